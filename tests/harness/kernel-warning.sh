# A kernel report on the console fails a script that itself exited 0.
# Writing "l" to sysrq-trigger prints a backtrace of all CPUs ("Call Trace:").
# harness-expect-exit: 126
# popcorn: timeout=120
echo l >/proc/sysrq-trigger
sleep 1
exit 0
