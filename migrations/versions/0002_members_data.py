"""members data

Revision ID: 0002_members_data
Revises: 0001_foundation
Create Date: 2026-11-22 06:09:52.987073

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0002_members_data'
down_revision = '0001_foundation'
branch_labels = None
depends_on = None


# (slug, English, Spanish, Basque, [sub-categories as (slug, en, es, eu)])
TAXONOMY = [
    ("energy", "Energy", "Energía", "Energia", [
        ("electricity", "Electricity", "Electricidad", "Elektrizitatea"),
        ("gas", "Gas", "Gas", "Gasa"),
        ("solar", "Solar self-consumption", "Autoconsumo solar", "Eguzki-autokontsumoa"),
        ("heating", "Heating", "Calefacción", "Berokuntza"),
    ]),
    ("food", "Food", "Alimentación", "Elikadura", [
        ("produce", "Fruit and vegetables", "Fruta y verdura", "Frutak eta barazkiak"),
        ("dairy", "Dairy and eggs", "Lácteos y huevos", "Esnekiak eta arrautzak"),
        ("meat-fish", "Meat and fish", "Carne y pescado", "Haragia eta arraina"),
        ("bakery", "Bread and bakery", "Pan y panadería", "Ogia eta okindegia"),
        ("pantry", "Pantry staples", "Despensa", "Jakitegia"),
    ]),
    ("telecom", "Telecoms", "Telecomunicaciones", "Telekomunikazioak", [
        ("mobile", "Mobile phone", "Telefonía móvil", "Telefonia mugikorra"),
        ("broadband", "Fibre and internet", "Fibra e internet", "Zuntza eta internet"),
    ]),
    ("insurance", "Insurance", "Seguros", "Aseguruak", [
        ("home-insurance", "Home insurance", "Seguro de hogar", "Etxeko asegurua"),
        ("car-insurance", "Car insurance", "Seguro de coche", "Autoaren asegurua"),
        ("health-insurance", "Health insurance", "Seguro de salud", "Osasun-asegurua"),
    ]),
    ("mobility", "Mobility", "Movilidad", "Mugikortasuna", [
        ("public-transport", "Public transport", "Transporte público", "Garraio publikoa"),
        ("bicycles", "Bicycles", "Bicicletas", "Bizikletak"),
        ("electric-vehicles", "Electric vehicles", "Vehículos eléctricos", "Ibilgailu elektrikoak"),
        ("car-sharing", "Car sharing", "Coche compartido", "Auto partekatua"),
    ]),
    ("housing", "Housing", "Vivienda", "Etxebizitza", [
        ("renovation", "Renovation and insulation", "Reformas y aislamiento", "Eraberritzea eta isolamendua"),
        ("appliances", "Household appliances", "Electrodomésticos", "Etxetresna elektrikoak"),
        ("furniture", "Furniture", "Muebles", "Altzariak"),
    ]),
    ("health", "Health", "Salud", "Osasuna", [
        ("pharmacy", "Pharmacy", "Farmacia", "Farmazia"),
        ("dental", "Dental care", "Dentista", "Hortz-zaintza"),
        ("optician", "Opticians", "Óptica", "Optika"),
    ]),
    ("finance", "Finance", "Finanzas", "Finantzak", [
        ("banking", "Bank account", "Cuenta bancaria", "Banku-kontua"),
        ("ethical-savings", "Ethical savings", "Ahorro ético", "Aurrezki etikoa"),
        ("loans", "Loans", "Préstamos", "Maileguak"),
    ]),
    ("clothing", "Clothing and footwear", "Ropa y calzado", "Arropa eta oinetakoak", [
        ("clothes", "Clothes", "Ropa", "Arropa"),
        ("shoes", "Shoes", "Calzado", "Oinetakoak"),
    ]),
]

# The consent log is append-only: no row is ever changed, and rows leave only
# with the erasure of their owner's account.
CONSENT_TRIGGERS_SQLITE = [
    """
CREATE TRIGGER consent_events_append_only BEFORE UPDATE ON consent_events
BEGIN SELECT RAISE(ABORT, 'consent_events is append-only'); END
""",
    """
CREATE TRIGGER consent_events_erasure_only BEFORE DELETE ON consent_events
WHEN (SELECT erased_at FROM users WHERE id = OLD.user_id) IS NULL
BEGIN SELECT RAISE(ABORT, 'consent_events is append-only'); END
""",
]
CONSENT_FUNCTION_POSTGRESQL = """
CREATE FUNCTION consent_events_append_only() RETURNS trigger AS $$
BEGIN
    IF TG_OP = 'DELETE' AND (SELECT erased_at FROM users WHERE id = OLD.user_id) IS NOT NULL THEN
        RETURN OLD;
    END IF;
    RAISE EXCEPTION 'consent_events is append-only';
END;
$$ LANGUAGE plpgsql
"""
CONSENT_TRIGGER_POSTGRESQL = """
CREATE TRIGGER consent_events_append_only BEFORE UPDATE OR DELETE ON consent_events
FOR EACH ROW EXECUTE FUNCTION consent_events_append_only()
"""


def seed_categories():
    categories = sa.table(
        "categories",
        sa.column("id", sa.Integer),
        sa.column("slug", sa.String),
        sa.column("parent_id", sa.Integer),
        sa.column("position", sa.Integer),
        sa.column("label_en", sa.String),
        sa.column("label_es", sa.String),
        sa.column("label_eu", sa.String),
    )
    op.bulk_insert(
        categories,
        [
            {"slug": slug, "parent_id": None, "position": n, "label_en": en, "label_es": es, "label_eu": eu}
            for n, (slug, en, es, eu, _children) in enumerate(TAXONOMY)
        ],
    )
    ids = dict(op.get_bind().execute(sa.select(categories.c.slug, categories.c.id)).all())
    op.bulk_insert(
        categories,
        [
            {"slug": f"{root}-{slug}", "parent_id": ids[root], "position": n,
             "label_en": en, "label_es": es, "label_eu": eu}
            for root, _en, _es, _eu, children in TAXONOMY
            for n, (slug, en, es, eu) in enumerate(children)
        ],
    )


def upgrade():

    op.create_table('categories',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('slug', sa.String(length=80), nullable=False),
    sa.Column('parent_id', sa.Integer(), nullable=True),
    sa.Column('position', sa.Integer(), nullable=False),
    sa.Column('label_en', sa.String(length=100), nullable=False),
    sa.Column('label_es', sa.String(length=100), nullable=False),
    sa.Column('label_eu', sa.String(length=100), nullable=False),
    sa.ForeignKeyConstraint(['parent_id'], ['categories.id'], name=op.f('fk_categories_parent_id_categories')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_categories')),
    sa.UniqueConstraint('slug', name=op.f('uq_categories_slug'))
    )
    with op.batch_alter_table('categories', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_categories_parent_id'), ['parent_id'], unique=False)

    op.create_table('companies',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=120), nullable=False),
    sa.Column('normalized_name', sa.String(length=120), nullable=False),
    sa.Column('website', sa.String(length=200), nullable=False),
    sa.Column('sector_id', sa.Integer(), nullable=True),
    sa.Column('created_by_id', sa.Integer(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('merged_into_id', sa.Integer(), nullable=True),
    sa.ForeignKeyConstraint(['created_by_id'], ['users.id'], name=op.f('fk_companies_created_by_id_users'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['merged_into_id'], ['companies.id'], name=op.f('fk_companies_merged_into_id_companies')),
    sa.ForeignKeyConstraint(['sector_id'], ['categories.id'], name=op.f('fk_companies_sector_id_categories')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_companies')),
    sa.UniqueConstraint('normalized_name', name=op.f('uq_companies_normalized_name'))
    )
    with op.batch_alter_table('companies', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_companies_merged_into_id'), ['merged_into_id'], unique=False)

    op.create_table('intents',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('category_id', sa.Integer(), nullable=False),
    sa.Column('description', sa.Text(), nullable=False),
    sa.Column('quantity', sa.Integer(), nullable=False),
    sa.Column('unit', sa.String(length=20), nullable=False),
    sa.Column('budget_min', sa.Integer(), nullable=False),
    sa.Column('budget_max', sa.Integer(), nullable=False),
    sa.Column('currency', sa.String(length=3), nullable=False),
    sa.Column('window_start', sa.Date(), nullable=False),
    sa.Column('window_end', sa.Date(), nullable=False),
    sa.Column('status', sa.Enum('open', 'committed', 'fulfilled', 'withdrawn', name='intent_status', native_enum=False, create_constraint=True, length=20), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint('budget_min >= 0 AND budget_min <= budget_max', name=op.f('ck_intents_budget_range')),
    sa.CheckConstraint('quantity > 0', name=op.f('ck_intents_quantity_positive')),
    sa.CheckConstraint('window_start <= window_end', name=op.f('ck_intents_window_range')),
    sa.ForeignKeyConstraint(['category_id'], ['categories.id'], name=op.f('fk_intents_category_id_categories')),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_intents_user_id_users'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_intents'))
    )
    with op.batch_alter_table('intents', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_intents_category_id'), ['category_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_intents_user_id'), ['user_id'], unique=False)

    op.create_table('preferences',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('category_id', sa.Integer(), nullable=False),
    sa.Column('importance', sa.Integer(), nullable=False),
    sa.Column('values', sa.JSON(), nullable=False),
    sa.Column('note', sa.Text(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint('importance BETWEEN 1 AND 5', name=op.f('ck_preferences_importance_range')),
    sa.ForeignKeyConstraint(['category_id'], ['categories.id'], name=op.f('fk_preferences_category_id_categories')),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_preferences_user_id_users'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_preferences'))
    )
    with op.batch_alter_table('preferences', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_preferences_category_id'), ['category_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_preferences_user_id'), ['user_id'], unique=False)

    op.create_table('consent_events',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('group_id', sa.Integer(), nullable=False),
    sa.Column('category_id', sa.Integer(), nullable=False),
    sa.Column('granted', sa.Boolean(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['category_id'], ['categories.id'], name=op.f('fk_consent_events_category_id_categories')),
    sa.ForeignKeyConstraint(['group_id'], ['groups.id'], name=op.f('fk_consent_events_group_id_groups'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_consent_events_user_id_users'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_consent_events'))
    )
    with op.batch_alter_table('consent_events', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_consent_events_user_id'), ['user_id'], unique=False)

    op.create_table('consents',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('group_id', sa.Integer(), nullable=False),
    sa.Column('category_id', sa.Integer(), nullable=False),
    sa.Column('granted', sa.Boolean(), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['category_id'], ['categories.id'], name=op.f('fk_consents_category_id_categories')),
    sa.ForeignKeyConstraint(['group_id'], ['groups.id'], name=op.f('fk_consents_group_id_groups'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_consents_user_id_users'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_consents')),
    sa.UniqueConstraint('user_id', 'group_id', 'category_id', name=op.f('uq_consents_user_id'))
    )
    with op.batch_alter_table('consents', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_consents_group_id'), ['group_id'], unique=False)

    op.create_table('feedback',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('company_id', sa.Integer(), nullable=False),
    sa.Column('category_id', sa.Integer(), nullable=True),
    sa.Column('rating', sa.Integer(), nullable=False),
    sa.Column('body', sa.Text(), nullable=False),
    sa.Column('body_html', sa.Text(), nullable=False),
    sa.Column('visibility', sa.Enum('group', 'partners', name='feedback_visibility', native_enum=False, create_constraint=True, length=20), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint('rating BETWEEN 1 AND 5', name=op.f('ck_feedback_rating_range')),
    sa.ForeignKeyConstraint(['category_id'], ['categories.id'], name=op.f('fk_feedback_category_id_categories')),
    sa.ForeignKeyConstraint(['company_id'], ['companies.id'], name=op.f('fk_feedback_company_id_companies')),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_feedback_user_id_users'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_feedback'))
    )
    with op.batch_alter_table('feedback', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_feedback_category_id'), ['category_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_feedback_company_id'), ['company_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_feedback_user_id'), ['user_id'], unique=False)

    op.create_table('preference_companies',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('preference_id', sa.Integer(), nullable=False),
    sa.Column('company_id', sa.Integer(), nullable=False),
    sa.Column('stance', sa.Enum('like', 'avoid', name='preference_stance', native_enum=False, create_constraint=True, length=20), nullable=False),
    sa.ForeignKeyConstraint(['company_id'], ['companies.id'], name=op.f('fk_preference_companies_company_id_companies')),
    sa.ForeignKeyConstraint(['preference_id'], ['preferences.id'], name=op.f('fk_preference_companies_preference_id_preferences'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_preference_companies'))
    )
    with op.batch_alter_table('preference_companies', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_preference_companies_company_id'), ['company_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_preference_companies_preference_id'), ['preference_id'], unique=False)




    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.add_column(sa.Column('erased_at', sa.DateTime(timezone=True), nullable=True))

    seed_categories()
    if op.get_bind().dialect.name == "postgresql":
        op.execute(CONSENT_FUNCTION_POSTGRESQL)
        op.execute(CONSENT_TRIGGER_POSTGRESQL)
    else:
        for trigger in CONSENT_TRIGGERS_SQLITE:
            op.execute(trigger)


def downgrade():
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS consent_events_append_only ON consent_events")
        op.execute("DROP FUNCTION IF EXISTS consent_events_append_only()")
    else:
        op.execute("DROP TRIGGER IF EXISTS consent_events_append_only")
        op.execute("DROP TRIGGER IF EXISTS consent_events_erasure_only")
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.drop_column('erased_at')

    with op.batch_alter_table('preference_companies', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_preference_companies_preference_id'))
        batch_op.drop_index(batch_op.f('ix_preference_companies_company_id'))

    op.drop_table('preference_companies')
    with op.batch_alter_table('feedback', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_feedback_user_id'))
        batch_op.drop_index(batch_op.f('ix_feedback_company_id'))
        batch_op.drop_index(batch_op.f('ix_feedback_category_id'))

    op.drop_table('feedback')
    with op.batch_alter_table('consents', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_consents_group_id'))

    op.drop_table('consents')
    with op.batch_alter_table('consent_events', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_consent_events_user_id'))

    op.drop_table('consent_events')
    with op.batch_alter_table('preferences', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_preferences_user_id'))
        batch_op.drop_index(batch_op.f('ix_preferences_category_id'))

    op.drop_table('preferences')
    with op.batch_alter_table('intents', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_intents_user_id'))
        batch_op.drop_index(batch_op.f('ix_intents_category_id'))

    op.drop_table('intents')
    with op.batch_alter_table('companies', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_companies_merged_into_id'))

    op.drop_table('companies')
    with op.batch_alter_table('categories', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_categories_parent_id'))

    op.drop_table('categories')

