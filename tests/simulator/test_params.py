"""Rule-set parameters: defaults that depend on the rule set, and the CLI flags that set them."""

from __future__ import annotations

import argparse
from typing import Any

import pytest
from pydantic import ValidationError

from simulator.cli import UsageError, govsim_parser, parse_params
from simulator.params import ROUND_CAP, RuleSet, Schedule, SimParams


@pytest.mark.parametrize(
    "given,expected",
    [
        (
            {"rules": "v0.4"},
            {"rules": RuleSet.V0_4, "cascade_rounds": 1, "schedule": Schedule.SYNCHRONOUS,
             "network_density": None, "mean_degree": None},
        ),
        (
            {},
            {"rules": RuleSet.V0_5, "cascade_rounds": ROUND_CAP,
             "schedule": Schedule.RANDOM_FRACTION, "network_density": None,
             "mean_degree": 10.0, "update_fraction": 0.5},
        ),
        ({"rules": "v0.5", "network_density": 0.1}, {"network_density": 0.1, "mean_degree": None}),
        ({"rules": "v0.5", "mean_degree": 4}, {"mean_degree": 4.0}),
        ({"rules": "v0.5", "cascade_rounds": 7}, {"cascade_rounds": 7}),
        ({"rules": "v0.5", "schedule": "synchronous"}, {"schedule": Schedule.SYNCHRONOUS}),
    ],
)  # fmt: skip
def test_defaults_resolve_per_rule_set(given: dict[str, Any], expected: dict[str, Any]) -> None:
    params = SimParams(**given)
    assert {name: getattr(params, name) for name in expected} == expected
    # a default is not a setting: only what was given counts as set
    assert params.model_fields_set == set(given)


@pytest.mark.parametrize(
    "given", [{"schedule": "random_fraction"}, {"update_fraction": 0.3}, {"rules": "v0.6"}]
)
def test_v04_has_no_schedule_options(given: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        SimParams(**{"rules": "v0.4", **given})


def test_v04_dumps_as_before_and_v05_dumps_everything_it_resolved() -> None:
    v04 = SimParams(agents=10, rules="v0.4").model_dump(mode="json")
    assert v04["rules"] == "v0.4"  # always written: a dump never depends on the default
    assert not {"schedule", "update_fraction", "calibration", "quorum"} & set(v04)
    assert SimParams(**v04) == SimParams(agents=10, rules="v0.4")
    v05 = SimParams(agents=10)
    dump = v05.model_dump(mode="json")
    assert dump["rules"] == "v0.5" and dump["schedule"] == "random_fraction"
    assert dump["cascade_rounds"] == ROUND_CAP and dump["mean_degree"] == 10
    assert SimParams(**dump) == v05


def cli(*argv: str) -> SimParams:
    args: argparse.Namespace = govsim_parser().parse_args(list(argv))
    return parse_params(args)


def test_cli_defaults_are_v05_and_rules_v04_gives_the_seed_defaults() -> None:
    params = cli()
    assert params == SimParams(rules="v0.5")
    assert (params.cascade_rounds, params.mean_degree, params.schedule) == (
        ROUND_CAP, 10.0, Schedule.RANDOM_FRACTION,
    )  # fmt: skip
    v04 = cli("--rules", "v0.4")
    assert v04 == SimParams(rules="v0.4", network_density=0.2, cascade_rounds=1)


def test_cli_rules_v05_takes_its_defaults_and_flags_override_them() -> None:
    assert cli("--rules", "v0.5") == SimParams(rules="v0.5")
    params = cli(
        "--rules", "v0.5", "--schedule", "synchronous", "--cascade-rounds", "50",
        "--network-density", "0.3", "--update-fraction", "0.25",
    )  # fmt: skip
    assert (params.schedule, params.cascade_rounds, params.network_density) == (
        Schedule.SYNCHRONOUS, 50, 0.3,
    )  # fmt: skip
    assert params.update_fraction == 0.25 and params.mean_degree is None


@pytest.mark.parametrize(
    "argv,message",
    [
        (["--rules", "v1"], "--rules: 'v1' is not one of v0.4, v0.5"),
        (["--rules", "v0.5", "--schedule", "x"], "--schedule: 'x' is not one of synchronous, "),
        (
            ["--rules", "v0.4", "--schedule", "synchronous"],
            "--schedule: 'synchronous' needs --rules v0.5",
        ),
        (
            ["--rules", "v0.4", "--update-fraction", "0.2"],
            "--update-fraction: '0.2' needs --rules v0.5",
        ),
        (["--rules", "v0.5", "--update-fraction", "0"], "--update-fraction: 0 is outside (0, 1]"),
    ],
)
def test_cli_rejects_bad_rule_flags_naming_the_flag(argv: list[str], message: str) -> None:
    with pytest.raises(UsageError) as info:
        cli(*argv)
    assert str(info.value).startswith(message)


@pytest.mark.parametrize(
    ("first", "second"),
    [
        ({"coalition_rule": "leader"}, {"delegation_rate": 0.5}),
        ({"coalition_rule": "stake_majority"}, {"attack_target": "auto"}),
        ({"delegation_rate": 0.2}, {"mev_share": 0.1}),
        ({"attack_target": "auto"}, {"mev_share": 0.1}),
    ],
)
def test_scenarios_combine_only_as_modelled(
    first: dict[str, object], second: dict[str, object]
) -> None:
    """Only delegation with an attack is modelled together: any other pair is one error naming
    the second switch."""
    SimParams(**first)
    SimParams(**second)
    with pytest.raises(ValidationError, match=r"combines only delegation_rate with attack_target"):
        SimParams(**first, **second)
    with pytest.raises(ValidationError) as info:
        SimParams(**first, **second)
    (error,) = info.value.errors()
    assert error["loc"] == () and str(error["msg"]).startswith(
        f"{sorted([next(iter(first)), next(iter(second))], key=ORDER.index)[1]}: "
    )


ORDER = ["coalition_rule", "delegation_rate", "attack_target", "mev_share"]


def test_delegation_and_attack_combine() -> None:
    """An attack on a vote with delegation is a valid run; a third scenario is still refused."""
    both = SimParams(delegation_rate=0.2, attack_target="pass", attack_budget=0.1)
    assert both.scenarios_on() == ["delegation_rate", "attack_target"]
    with pytest.raises(ValidationError, match=r"delegation_rate: coalition_rule is on already"):
        SimParams(coalition_rule="leader", delegation_rate=0.2, attack_target="pass")
