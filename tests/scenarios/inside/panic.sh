# Runs inside a secondary: panic on purpose, as a user would.
echo "inside: panicking now"
# Let the polled console drain before the panic report takes it over.
sleep 1
echo c >/proc/sysrq-trigger
