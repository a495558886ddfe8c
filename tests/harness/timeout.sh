# A guest that never finishes is killed at its timeout.
# harness-expect-exit: 124
# popcorn: timeout=25
sleep 1000
