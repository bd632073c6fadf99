"""One factory per domain model; they live in `core.factories`, which `seeddemo` uses too."""

from core.factories import (  # noqa: F401
    ALL_FACTORIES,
    AbonnementFactory,
    AuditLogFactory,
    BlockchainBlockFactory,
    ConfigurationFactory,
    ContactMessageFactory,
    DemandePartageFactory,
    DepartmentFactory,
    DocumentPartageFactory,
    FiliereFactory,
    OrganizationFactory,
    OrganizationInviteFactory,
    PaymentFactory,
    PermissionFactory,
    SiteSettingsFactory,
    TransactionFactory,
    UserFactory,
)
