"""The status a Sweep custom resource reports: one pydantic model for the controller and the CRD.

The controller computes a ``SweepStatus`` in ``sweep_controller.k8s.reconcile`` and patches it onto
the resource's ``status`` subresource; ``sweep_controller.k8s.crd`` generates the CRD's status
schema
from the same model, so the two cannot drift. Reading a status back from the API is lenient
(unknown keys are ignored: an older or newer controller may have written it); writing is strict.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError


class Phase(StrEnum):
    """A sweep's phase: waiting for its Job to start, running, or finished either way."""

    PENDING = "Pending"
    RUNNING = "Running"
    SUCCEEDED = "Succeeded"
    FAILED = "Failed"


TERMINAL_PHASES: frozenset[Phase] = frozenset({Phase.SUCCEEDED, Phase.FAILED})


class ConditionType(StrEnum):
    """Condition types a Sweep reports (``kubectl wait --for=condition=Complete sweep/NAME``)."""

    STARTED = "Started"
    COMPLETE = "Complete"
    FAILED = "Failed"
    PODS_CREATED = "PodsCreated"


class _StatusModel(BaseModel):
    # Read by the API's camelCase aliases; built in code by field name.
    model_config = ConfigDict(
        extra="ignore", frozen=True, validate_by_alias=True, validate_by_name=True
    )


class Condition(_StatusModel):
    """One Kubernetes-style condition: type, True/False, reason, message and transition time."""

    type: ConditionType = Field(description="Started, Complete, Failed or PodsCreated.")
    status: Literal["True", "False", "Unknown"] = Field(description="True, False or Unknown.")
    reason: str = Field(description="CamelCase reason of the last transition.")
    message: str = Field("", description="Human-readable detail.")
    last_transition_time: datetime = Field(
        alias="lastTransitionTime", description="When the status last changed."
    )
    observed_generation: int | None = Field(
        None, alias="observedGeneration", description="metadata.generation this was computed at."
    )


class SearchStatus(_StatusModel):
    """Where an adaptive sweep (``method: optuna``) is, and the best it has found so far."""

    round: int = Field(description="The round whose Job runs (or ran last), from 0.")
    rounds: int = Field(description="Rounds of the sweep (spec.rounds).")
    tasks_done_before: int = Field(
        0, alias="tasksDoneBefore", description="Tasks done in the rounds before this one."
    )
    failed_indexes_before: str | None = Field(
        None,
        alias="failedIndexesBefore",
        description="Tasks of earlier rounds that are not done (failed within maxFailedIndexes).",
    )
    best_value: float | None = Field(
        None,
        alias="bestValue",
        description="The objective outcome's mean at the best point of the finished rounds.",
    )
    best_point: str | None = Field(
        None, alias="bestPoint", description="The best point so far: name=value, ..."
    )
    boundary: float | None = Field(
        None, description="With a target: where the fitted outcome crosses it (estimate)."
    )
    boundary_low: float | None = Field(
        None, alias="boundaryLow", description="Evaluated value just before the crossing."
    )
    boundary_high: float | None = Field(
        None, alias="boundaryHigh", description="First evaluated value past the crossing."
    )


class SweepStatus(_StatusModel):
    """What the controller reports on a Sweep (the ``status`` subresource)."""

    phase: Phase | None = Field(None, description="Pending, Running, Succeeded or Failed.")
    tasks_total: int | None = Field(
        None, alias="tasksTotal", description="Tasks (Job indexes) of the sweep."
    )
    tasks_done: int | None = Field(None, alias="tasksDone", description="Tasks that succeeded.")
    tasks_failed: int | None = Field(
        None, alias="tasksFailed", description="Tasks that failed after their retries."
    )
    failed_indexes: str | None = Field(
        None, alias="failedIndexes", description="Failed task indexes, e.g. '1,3-5'."
    )
    start_time: datetime | None = Field(
        None, alias="startTime", description="When the Job started running."
    )
    completion_time: datetime | None = Field(
        None, alias="completionTime", description="When the sweep succeeded or failed."
    )
    results_uri: str | None = Field(
        None, alias="resultsUri", description="Where the results are: <output uri>/<sweep name>/."
    )
    message: str | None = Field(None, description="Why the sweep is in its phase.")
    observed_generation: int | None = Field(
        None, alias="observedGeneration", description="metadata.generation last reconciled."
    )
    conditions: list[Condition] = Field(default_factory=list, description="Conditions.")
    search: SearchStatus | None = Field(
        None, description="method optuna: the current round and the best point so far."
    )
    pushgateway_cleaned_up: bool | None = Field(
        None,
        alias="pushgatewayCleanedUp",
        description="Whether the sweep's Pushgateway task groups were deleted after it finished.",
    )

    def condition(self, kind: ConditionType) -> Condition | None:
        """The condition of type ``kind``, if present."""
        return next((c for c in self.conditions if c.type == kind), None)

    def to_api(self) -> dict[str, Any]:
        """The status as the API spells it (camelCase, RFC 3339 times, unset fields left out)."""
        return self.model_dump(mode="json", by_alias=True, exclude_none=True)


def parse_status(raw: object) -> SweepStatus:
    """A status read from the API; anything unreadable counts as no status at all."""
    if not isinstance(raw, dict):
        return SweepStatus()
    try:
        return SweepStatus.model_validate(raw)
    except ValidationError:
        return SweepStatus()
