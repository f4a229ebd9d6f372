# Read by the `flask` command only (not by gunicorn): in a checkout, `flask --app app …`
# runs in development. Production sets TECOPIO_ENV, SECRET_KEY and PUBLIC_URL itself.
TECOPIO_ENV=development
