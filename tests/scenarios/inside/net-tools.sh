# Runs inside a secondary (net-tools): the same checks as the primary's.
. /usr/share/popcorn/lib.sh

check_net_tools
echo "inside: all checks passed"
