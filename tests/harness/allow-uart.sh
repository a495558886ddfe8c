# An allowance for a secondary's UART is refused before anything boots:
# one UART serves one secondary after another, so it must name the kernel.
# harness-expect-exit: 1
# harness-expect-report: name the kernel the line is allowed for
# allow ttyS1: Kernel panic
exit 0
