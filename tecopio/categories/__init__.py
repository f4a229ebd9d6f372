"""The category taxonomy members file their data under."""
