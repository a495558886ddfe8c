# A program's line that a kernel record cut in two still meets its
# expectation: the harness rejoins it (run-scenario's untangle). Without
# that, "inside: 0 of 628[    5.65] popcorn_msg: ... unloaded" failed
# secondary-lifecycle once.
# harness-expect-exit: 0
# popcorn: timeout=120
# expect ttyS0: ^harness: a line cut by a kernel record, rejoined
# expect ttyS0: \] harness: the record in the middle
printf 'harness: a line cut by '
# Wait until the tty has sent the fragment (stty sets the console's
# settings with TCSADRAIN), then print a record: the UART carries it at
# once, in the middle of the line.
stty "$(stty -g </dev/console)" </dev/console
echo '<5>harness: the record in the middle' >/dev/kmsg
echo 'a kernel record, rejoined'
