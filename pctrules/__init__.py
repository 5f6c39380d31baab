"""pctrules: rules and a policy language for the responsible commissioner, NHS England, PCT era."""

__version__ = "0.1.0"
