# Runs inside a secondary (secondary-crash): ignores the primary's shutdown
# requests (its /sbin/poweroff does nothing), so the primary must force it.
# Joins the message layer only then, which tells the primary it is ready.
rm -f /sbin/poweroff
printf '#!/bin/sh\nexit 0\n' >/sbin/poweroff
chmod +x /sbin/poweroff
insmod popcorn_msg.ko
echo "inside: deaf to shutdown requests"
while :; do sleep 60; done
