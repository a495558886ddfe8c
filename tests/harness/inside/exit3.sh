# Runs inside a secondary: its script fails.
echo "inside: exiting with 3"
exit 3
