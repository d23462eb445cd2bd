from shop_customers.tables import metadata
from shopkit.migrate import run_env

run_env(metadata)
