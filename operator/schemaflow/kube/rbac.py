"""Every Kubernetes API call the operator makes, as (verb, group, resource) triples.

The chart derives its RBAC rules from these lists, and the end-to-end tests check that every
request the operator sends to the API emulator is covered by them. The operator never reads
Secrets: migration Jobs get the database URL from the Secret themselves.
"""

from __future__ import annotations

API_CALLS: tuple[tuple[str, str, str], ...] = (
    # kopf: watching and patching SchemaMigrations (finalizer, progress annotations, status)
    ("list", "schemaflow.domainflow.io", "schemamigrations"),
    ("get", "schemaflow.domainflow.io", "schemamigrations"),  # a missing Job: is the body stale?
    ("watch", "schemaflow.domainflow.io", "schemamigrations"),
    ("patch", "schemaflow.domainflow.io", "schemamigrations"),
    ("patch", "schemaflow.domainflow.io", "schemamigrations/status"),
    # kopf: Kubernetes Events at each transition
    ("create", "", "events"),
    # the controller: migration Jobs and their pods (for the termination message)
    ("create", "batch", "jobs"),
    ("get", "batch", "jobs"),
    ("list", "batch", "jobs"),
    ("watch", "batch", "jobs"),  # kopf: a Job's change is seen at once (handlers.job_changed)
    ("delete", "batch", "jobs"),
    ("list", "", "pods"),
    # the Job controller reports a pod it could not create only as an Event on the Job
    ("list", "", "events"),
)

# Only with `schemaflow operator --peering NAME` (HA): kopf's peering objects. Their CRDs
# (kopfpeerings.kopf.dev, clusterkopfpeerings.kopf.dev) must be installed by the chart.
PEERING_API_CALLS: tuple[tuple[str, str, str], ...] = (
    ("list", "kopf.dev", "kopfpeerings"),
    ("watch", "kopf.dev", "kopfpeerings"),
    ("patch", "kopf.dev", "kopfpeerings"),
    ("list", "kopf.dev", "clusterkopfpeerings"),
    ("watch", "kopf.dev", "clusterkopfpeerings"),
    ("patch", "kopf.dev", "clusterkopfpeerings"),
)
