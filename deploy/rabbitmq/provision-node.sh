#!/usr/bin/env bash
# Provision one partynet node on RabbitMQ: its queue, dead-letter queue and bindings, its own
# user, and that user's permissions (publish to the federation exchange, read its own queue,
# configure nothing). Idempotent: running it again resets the password and permissions.
#
# Usage:   provision-node.sh <node_id> <password>
#          provision-node.sh <node_id> -          # the password is read from stdin (not in ps)
# Env:     PARTYNET_RABBITMQ_VHOST   virtual host (default: partynet)
#          PARTYNET_DELIVERY_LIMIT   x-delivery-limit of the queue (default: 20, as the Bus)
#          RABBITMQCTL               the command to run (default: rabbitmqctl; e.g.
#                                    "sudo rabbitmqctl" or "rabbitmqctl -n rabbit@broker1")
# Needs:   the vhost and exchanges from definitions.json (rabbitmqctl import_definitions).
set -euo pipefail

usage() {
  echo "usage: $0 <node_id> <password|->" >&2
  exit 2
}
[[ $# -eq 2 ]] || usage
node_id=$1
password=$2

# The id becomes a routing key, queue name and permission regex: same rule as the Bus.
if [[ ! $node_id =~ ^[A-Za-z0-9][A-Za-z0-9_-]{0,127}$ ]] || [[ $node_id == hub ]]; then
  echo "invalid node id '$node_id': letters, digits, '-', '_' (and not 'hub')" >&2
  exit 2
fi
if [[ $password == - ]]; then
  IFS= read -r password || true
fi
if [[ -z $password ]]; then
  echo "empty password" >&2
  exit 2
fi

vhost=${PARTYNET_RABBITMQ_VHOST:-partynet}
limit=${PARTYNET_DELIVERY_LIMIT:-20}
if [[ ! $limit =~ ^[1-9][0-9]*$ ]]; then
  echo "PARTYNET_DELIVERY_LIMIT must be a positive integer" >&2
  exit 2
fi
read -r -a ctl <<<"${RABBITMQCTL:-rabbitmqctl}"
user="partynet-node-${node_id}"
queue="partynet.node.${node_id}"
dead="${queue}.dead"

# 1. Queues and bindings. rabbitmqctl has no declare command, so import a definitions
# document. The arguments are exactly those of federation.transport.topology.queue_arguments:
# any difference makes the node's workers fail with PRECONDITION_FAILED. The document goes
# through stdin: a file path would be read by the broker's own user, not by this script.
"${ctl[@]}" -q import_definitions <<JSON
{
  "exchanges": [
    {"name": "partynet.federation", "vhost": "${vhost}", "type": "direct", "durable": true,
     "auto_delete": false, "internal": false, "arguments": {}},
    {"name": "partynet.dlx", "vhost": "${vhost}", "type": "direct", "durable": true,
     "auto_delete": false, "internal": false, "arguments": {}}
  ],
  "queues": [
    {"name": "${queue}", "vhost": "${vhost}", "durable": true, "auto_delete": false,
     "arguments": {"x-queue-type": "quorum", "x-delivery-limit": ${limit},
                   "x-dead-letter-exchange": "partynet.dlx",
                   "x-dead-letter-routing-key": "${dead}",
                   "x-dead-letter-strategy": "at-least-once",
                   "x-overflow": "reject-publish"}},
    {"name": "${dead}", "vhost": "${vhost}", "durable": true, "auto_delete": false,
     "arguments": {}}
  ],
  "bindings": [
    {"source": "partynet.federation", "vhost": "${vhost}", "destination": "${queue}",
     "destination_type": "queue", "routing_key": "${node_id}", "arguments": {}},
    {"source": "partynet.dlx", "vhost": "${vhost}", "destination": "${dead}",
     "destination_type": "queue", "routing_key": "${dead}", "arguments": {}}
  ]
}
JSON

# 2. The user; the password goes through stdin, never on a command line.
if "${ctl[@]}" -s list_users | cut -f1 | grep -qxF -- "$user"; then
  printf '%s' "$password" | "${ctl[@]}" -q change_password "$user"
else
  printf '%s' "$password" | "${ctl[@]}" -q add_user "$user"
fi

# 3. Permissions: configure nothing, write (publish to) the federation exchange only, read
# (consume) its own queue only. The node's Bus runs with declare="passive".
"${ctl[@]}" -q set_permissions -p "$vhost" "$user" \
  '^$' '^partynet\.federation$' "^partynet\\.node\\.${node_id}\$"

echo "provisioned node ${node_id}: user ${user}, queue ${queue} in vhost ${vhost}"
echo "its bus URL: amqps://${user}:<password>@<broker>:5671/${vhost}  (open_bus(url, declare=\"passive\"))"
