"""Write policies as plug-ins: one class per module of this package (base.py says what a
policy answers). Importing the package imports each module, which registers its policy."""

import importlib
import pkgutil

from datatransfer.policies.base import WritePolicy, registered

DEFAULT = "upsert"

for _module in pkgutil.iter_modules(__path__):
    importlib.import_module(f"{__name__}.{_module.name}")


def policy_names() -> list[str]:
    """The registered policies' names, the default first, then by name of module."""
    policies = registered()
    return sorted(policies, key=lambda n: (n != DEFAULT, type(policies[n]).__module__))


def policy_named(name: str) -> WritePolicy | None:
    return registered().get(name)


__all__ = ["DEFAULT", "WritePolicy", "policy_named", "policy_names"]
