"""audit_model: a compliance audit (GDPR, CCPA, EU AI Act, generic) from pipeline evidence."""
