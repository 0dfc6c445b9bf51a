"""The operator's Prometheus metrics (listed in docs/operator.md, "Metrics").

Every label value is bounded: namespace and name of a SchemaMigration, a direction, a phase
from :class:`~schemaflow.kube.status.Phase`, a result or reason from a fixed vocabulary
(anything else becomes ``Other``). Nothing carries a credential. The metrics live in a
registry created by ``schemaflow operator`` at start-up, never at import time.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from schemaflow.kube.status import Phase

KNOWN_REASONS = frozenset({
    "ApplyFailed", "PreflightFailed", "ChecksumDrift", "VerificationFailed", "LockNotAcquired",
    "DirtyDatabase", "Dirty", "DatabaseUnreachable", "Unreachable", "UsageError",
    "InvalidMigrationSource", "InvalidSpec", "DeadlineExceeded", "JobLost", "JobFailed",
    "RollbackFailed", "CreateContainerConfigError", "CreateContainerError", "ImagePullBackOff",
    "ErrImagePull", "InvalidImageName", "Failed", "Succeeded", "NoChange",
})
DURATION_BUCKETS = (0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800, 3600, float("inf"))


def bounded(reason: str) -> str:
    return reason if reason in KNOWN_REASONS else "Other"


class Metrics:
    """All schemaflow metrics, registered in ``registry``."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.registry = registry
        self.duration = Histogram(
            "schemaflow_migration_duration_seconds", "Duration of migration Jobs, as reported by them.",
            ["namespace", "name", "direction", "result"], buckets=DURATION_BUCKETS,
            registry=registry)
        self.failures = Counter(
            "schemaflow_migration_failures_total", "Runs that ended in failure, by phase and reason.",
            ["namespace", "name", "phase", "reason"], registry=registry)
        self.rollbacks = Counter(
            "schemaflow_rollbacks_total", "Down migrations completed after a failed verification.",
            ["namespace", "name"], registry=registry)
        self.verification_failures = Counter(
            "schemaflow_verification_failures_total", "Up migrations whose verification failed.",
            ["namespace", "name"], registry=registry)
        self.schema_version = Gauge(
            "schemaflow_schema_version", "Schema version of the database after the last run.",
            ["namespace", "name"], registry=registry)
        self.phase = Gauge(
            "schemaflow_migration_phase", "1 for the current phase of a SchemaMigration, else 0.",
            ["namespace", "name", "phase"], registry=registry)
        self.last_success = Gauge(
            "schemaflow_last_success_timestamp_seconds",
            "Unix time of the last successful migration.", ["namespace", "name"], registry=registry)

    def run_finished(self, namespace: str, name: str, direction: str, result: str,
                     seconds: float) -> None:
        self.duration.labels(namespace, name, direction, bounded(result)).observe(max(seconds, 0.0))

    def failed(self, namespace: str, name: str, phase: Phase, reason: str) -> None:
        self.failures.labels(namespace, name, phase.value, bounded(reason)).inc()

    def rolled_back(self, namespace: str, name: str) -> None:
        self.rollbacks.labels(namespace, name).inc()

    def verification_failed(self, namespace: str, name: str) -> None:
        self.verification_failures.labels(namespace, name).inc()

    def succeeded(self, namespace: str, name: str, timestamp: float) -> None:
        self.last_success.labels(namespace, name).set(timestamp)

    def set_version(self, namespace: str, name: str, version: int) -> None:
        self.schema_version.labels(namespace, name).set(version)

    def set_phase(self, namespace: str, name: str, phase: Phase) -> None:
        for each in Phase:
            self.phase.labels(namespace, name, each.value).set(1 if each is phase else 0)

    def forget(self, namespace: str, name: str) -> None:
        """Drop the gauges of a deleted SchemaMigration (counters keep their history)."""
        for each in Phase:
            self._remove(self.phase, namespace, name, each.value)
        for gauge in (self.schema_version, self.last_success):
            self._remove(gauge, namespace, name)

    @staticmethod
    def _remove(gauge: Gauge, *labels: str) -> None:
        try:
            gauge.remove(*labels)
        except KeyError:
            pass
