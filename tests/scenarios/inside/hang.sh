# Runs inside a secondary: hang one CPU with interrupts off (lkdtm spins
# forever with interrupts disabled; nothing but INIT gets that CPU back).
echo "inside: hanging a CPU with interrupts off"
# Let the polled console drain before the CPU stops.
sleep 1
echo HARDLOCKUP >/sys/kernel/debug/provoke-crash/DIRECT
