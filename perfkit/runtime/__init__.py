"""Running an experiment: device, toggles, clocks, the instrumented loop, the runner."""
