# The harness passes the script's own exit status through.
# harness-expect-exit: 3
# popcorn: timeout=120
exit 3
