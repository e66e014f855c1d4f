"""docs/aws.md's install steps do what they claim, checked offline.

The alert rules must load in kube-prometheus-stack as the page installs it: the chart, rendered
with the page's monitoring values, yields a PrometheusRule that the stack's rule selector matches.
Helm must be logged in to ECR before the page pulls the chart from it.
"""

from __future__ import annotations

import re
from typing import Any

import yaml
from kit.charts import render_text
from kit.paths import REPO

AWS_DOC = REPO / "docs" / "aws.md"


def doc() -> str:
    """The text of docs/aws.md."""
    return AWS_DOC.read_text()


def stack_install() -> tuple[str, str]:
    """The kube-prometheus-stack release name and its whole `helm upgrade --install` command."""
    match = re.search(
        r"^helm upgrade --install (\S+) prometheus-community/kube-prometheus-stack(?:.*\\\n)*.*$",
        doc(),
        re.MULTILINE,
    )
    assert match, "docs/aws.md no longer installs kube-prometheus-stack"
    return match.group(1), match.group(0)


def monitoring_values() -> dict[str, Any]:
    """The values-monitoring.yaml the page writes."""
    match = re.search(r"cat > values-monitoring\.yaml <<'YAML'\n(.*?)\nYAML\n", doc(), re.DOTALL)
    assert match, "docs/aws.md no longer writes values-monitoring.yaml"
    values: dict[str, Any] = yaml.safe_load(match.group(1))
    return values


def rule_selected(labels: dict[str, str], release: str, command: str) -> bool:
    """Whether the stack, installed by `command` as `release`, selects a rule with `labels`.

    kube-prometheus-stack's ruleSelector is empty (every rule) when
    ruleSelectorNilUsesHelmValues=false, otherwise {release: <stack release>}.
    """
    if "prometheus.prometheusSpec.ruleSelectorNilUsesHelmValues=false" in command:
        return True
    return labels.get("release") == release


def test_documented_values_render_a_rule_the_stack_loads() -> None:
    """The PrometheusRule rendered with the page's values is selected by the page's stack."""
    release, command = stack_install()
    values = monitoring_values()
    rendered = render_text(values)
    rules = [
        doc
        for path, text in rendered.items()
        if not path.endswith("NOTES.txt")
        for doc in yaml.safe_load_all(text)
        if doc and doc.get("kind") == "PrometheusRule"
    ]
    assert len(rules) == 1, "metrics.prometheusRule.enabled must render one PrometheusRule"
    labels = rules[0]["metadata"]["labels"]
    assert rule_selected(labels, release, command)
    # Either half alone loads the rule; both are documented so that a stack installed with the
    # chart's default selector loads it too.
    assert labels.get("release") == release
    assert "ruleSelectorNilUsesHelmValues=false" in command


def test_rule_selection_model_rejects_an_unlabelled_rule_under_the_default_selector() -> None:
    """Without the label or the selector override, the rule is not loaded (the old page)."""
    assert not rule_selected({"app.kubernetes.io/name": "govsim"}, "monitoring", "helm ...")
    assert rule_selected({"release": "monitoring"}, "monitoring", "helm ...")


def test_helm_logs_in_to_ecr_before_pulling_the_chart() -> None:
    """`helm registry login` comes before the first command that pulls the chart over OCI."""
    text = doc()
    login = text.find("helm registry login")
    pull = re.search(r"^helm (?:upgrade --install|install|pull) \S+ oci://", text, re.MULTILINE)
    assert login != -1 and pull, "docs/aws.md must log Helm in and install the chart from ECR"
    assert login < pull.start()


def test_prerequisites_match_the_repository() -> None:
    """The stated Terraform floor is versions.tf's, and kubectl's skew is stated."""
    versions_tf = (REPO / "infra" / "terraform" / "versions.tf").read_text()
    required = re.search(r'required_version\s*=\s*">=\s*(\d+\.\d+)', versions_tf)
    assert required
    text = doc()
    assert f"Terraform | {required.group(1)} or newer" in text
    assert "within one minor version of the cluster" in text
    assert "Helm | 3.8 or newer" in text
