"""Parameter sweeps of the simulator: spec, expansion, worker, stores, runners and the controller."""

__all__: list[str] = []
