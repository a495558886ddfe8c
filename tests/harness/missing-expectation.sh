# An `expect` line that no console shows fails the scenario.
# harness-expect-exit: 127
# popcorn: timeout=120
# expect ttyS0: this line is never printed
# expect ttyS1: nor is this one
exit 0
