"""The parts of Karpenter's v1 API the chart sets, as strict pydantic models (offline check).

The chart's NodePool and EC2NodeClass must be valid for the Karpenter version infra/terraform
pins. The authoritative check is against the CRDs of that version (tests/kit/karpenter.py), but
those are published only on GitHub, which a test machine may not reach. These models describe
the same fields as the v1 CRDs (karpenter.sh_nodepools.yaml and karpenter.k8s.aws_ec2nodeclasses
.yaml of Karpenter 1.x): names, types, enums and patterns, and refuse any other field, which the
API server would silently prune. They cover what the chart renders, not all of Karpenter's API.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

# Karpenter's duration fields: "Never" or Go durations made of s, m and h parts.
Duration = Annotated[str, Field(pattern=r"^(([0-9]+(s|m|h))+|Never)$")]
Quantity = Annotated[str, Field(pattern=r"^[0-9]+(\.[0-9]+)?(Ki|Mi|Gi|Ti|Pi|Ei|m|k|M|G|T|P|E)?$")]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)


class ObjectMeta(BaseModel):
    model_config = ConfigDict(extra="allow")

    name: str
    labels: dict[str, str] = {}
    annotations: dict[str, str] = {}


class NodeClassRef(_Strict):
    group: str
    kind: str
    name: str


class Taint(_Strict):
    key: str
    value: str | None = None
    effect: Literal["NoSchedule", "PreferNoSchedule", "NoExecute"]


class Requirement(_Strict):
    key: str
    operator: Literal["In", "NotIn", "Exists", "DoesNotExist", "Gt", "Lt"]
    values: list[str] = []
    min_values: int | None = Field(None, alias="minValues", ge=1, le=50)


class TemplateMeta(_Strict):
    labels: dict[str, str] = {}
    annotations: dict[str, str] = {}


class NodeClaimTemplateSpec(_Strict):
    node_class_ref: NodeClassRef = Field(alias="nodeClassRef")
    taints: list[Taint] = []
    startup_taints: list[Taint] = Field([], alias="startupTaints")
    requirements: list[Requirement] = Field(max_length=100)
    expire_after: Duration | None = Field(None, alias="expireAfter")
    termination_grace_period: Duration | None = Field(None, alias="terminationGracePeriod")


class NodeClaimTemplate(_Strict):
    metadata: TemplateMeta = TemplateMeta()
    spec: NodeClaimTemplateSpec


class Budget(_Strict):
    nodes: str = Field(pattern=r"^((100|[0-9]{1,2})%|[0-9]+)$")
    reasons: list[Literal["Underutilized", "Empty", "Drifted"]] | None = None
    schedule: str | None = None
    duration: Duration | None = None


class Disruption(_Strict):
    consolidation_policy: Literal["WhenEmpty", "WhenEmptyOrUnderutilized"] = Field(
        alias="consolidationPolicy"
    )
    consolidate_after: Duration = Field(alias="consolidateAfter")
    budgets: list[Budget] | None = None


class NodePoolSpec(_Strict):
    template: NodeClaimTemplate
    disruption: Disruption
    limits: dict[str, Quantity] = {}
    weight: int | None = Field(None, ge=1, le=100)


class NodePool(_Strict):
    api_version: Literal["karpenter.sh/v1"] = Field(alias="apiVersion")
    kind: Literal["NodePool"]
    metadata: ObjectMeta
    spec: NodePoolSpec


class AMISelectorTerm(_Strict):
    alias: str | None = Field(None, pattern=r"^[a-zA-Z0-9]+@.+$", max_length=30)
    id: str | None = None
    name: str | None = None
    owner: str | None = None
    tags: dict[str, str] | None = None
    ssm_parameter: str | None = Field(None, alias="ssmParameter")


class SelectorTerm(_Strict):
    tags: dict[str, str] | None = None
    id: str | None = None
    name: str | None = None


class MetadataOptions(_Strict):
    http_endpoint: Literal["enabled", "disabled"] = Field(alias="httpEndpoint")
    http_protocol_ipv6: Literal["enabled", "disabled"] = Field(alias="httpProtocolIPv6")
    http_put_response_hop_limit: int = Field(alias="httpPutResponseHopLimit", ge=1, le=64)
    http_tokens: Literal["required", "optional"] = Field(alias="httpTokens")


class BlockDevice(_Strict):
    volume_size: Quantity | None = Field(None, alias="volumeSize")
    volume_type: Literal["standard", "io1", "io2", "gp2", "sc1", "st1", "gp3"] | None = Field(
        None, alias="volumeType"
    )
    encrypted: bool | None = None
    delete_on_termination: bool | None = Field(None, alias="deleteOnTermination")
    iops: int | None = None
    throughput: int | None = None
    kms_key_id: str | None = Field(None, alias="kmsKeyID")
    snapshot_id: str | None = Field(None, alias="snapshotID")


class BlockDeviceMapping(_Strict):
    device_name: str | None = Field(None, alias="deviceName")
    root_volume: bool | None = Field(None, alias="rootVolume")
    ebs: BlockDevice | None = None


class EC2NodeClassSpec(_Strict):
    instance_profile: str | None = Field(None, alias="instanceProfile")
    role: str | None = None
    ami_selector_terms: list[AMISelectorTerm] = Field(
        alias="amiSelectorTerms", min_length=1, max_length=30
    )
    subnet_selector_terms: list[SelectorTerm] = Field(
        alias="subnetSelectorTerms", min_length=1, max_length=30
    )
    security_group_selector_terms: list[SelectorTerm] = Field(
        alias="securityGroupSelectorTerms", min_length=1, max_length=30
    )
    metadata_options: MetadataOptions | None = Field(None, alias="metadataOptions")
    block_device_mappings: list[BlockDeviceMapping] | None = Field(
        None, alias="blockDeviceMappings", max_length=50
    )
    tags: dict[str, str] = {}
    user_data: str | None = Field(None, alias="userData")
    kubelet: dict[str, Any] | None = None
    associate_public_ip_address: bool | None = Field(None, alias="associatePublicIPAddress")
    detailed_monitoring: bool | None = Field(None, alias="detailedMonitoring")

    @model_validator(mode="after")
    def _one_identity(self) -> EC2NodeClassSpec:
        if (self.instance_profile is None) == (self.role is None):
            raise ValueError("exactly one of spec.role and spec.instanceProfile must be set")
        return self


class EC2NodeClass(_Strict):
    api_version: Literal["karpenter.k8s.aws/v1"] = Field(alias="apiVersion")
    kind: Literal["EC2NodeClass"]
    metadata: ObjectMeta
    spec: EC2NodeClassSpec


MODELS: dict[str, type[BaseModel]] = {"NodePool": NodePool, "EC2NodeClass": EC2NodeClass}
