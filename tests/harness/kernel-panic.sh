# A guest kernel that panics is reported as "kernel died", not as a pass.
# harness-expect-exit: 125
# popcorn: timeout=120
# allow ttyS0: .*
echo c >/proc/sysrq-trigger
