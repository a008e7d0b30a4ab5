from monostack.common.migrate import run_env
from monostack.identity.models import Base

run_env(Base.metadata)
