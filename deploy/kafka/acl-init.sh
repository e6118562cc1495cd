#!/bin/bash
# One-shot (kafka-acl-init): a SCRAM-SHA-512 principal per municipal system and per service, and
# the ACLs that let each write only its own topics and read only what it consumes. Idempotent.
# The broker runs StandardAuthorizer with allow.everyone.if.no.acl.found=false: no ACL, no access.
set -euo pipefail
BOOT=kafka:19092
K=/opt/kafka/bin
CFG=$(mktemp)
cat > "$CFG" <<PROPS
security.protocol=SASL_PLAINTEXT
sasl.mechanism=PLAIN
sasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule required username="admin" password="${KAFKA_ADMIN_PASSWORD}";
PROPS

scram() {  # principal password
  "$K/kafka-configs.sh" --bootstrap-server "$BOOT" --command-config "$CFG" --alter \
    --entity-type users --entity-name "$1" --add-config "SCRAM-SHA-512=[iterations=8192,password=$2]" >/dev/null
}
write() {  # principal topic...
  local who=$1; shift
  for t in "$@"; do
    "$K/kafka-acls.sh" --bootstrap-server "$BOOT" --command-config "$CFG" --add --allow-principal "User:$who" \
      --operation Write --operation Describe --topic "$t" >/dev/null
  done
}
read_group() {  # principal topic... (and its consumer group, named after it)
  local who=$1; shift
  for t in "$@"; do
    "$K/kafka-acls.sh" --bootstrap-server "$BOOT" --command-config "$CFG" --add --allow-principal "User:$who" \
      --operation Read --operation Describe --topic "$t" >/dev/null
  done
  "$K/kafka-acls.sh" --bootstrap-server "$BOOT" --command-config "$CFG" --add --allow-principal "User:$who" \
    --operation Read --group "${GROUP:-$who}" >/dev/null
}

MEMBERS=incentives.members.v1 REPORTS=incentives.reports.v1 VOLUNTEER=incentives.volunteer.v1
REDEMPTIONS=incentives.redemptions.v1 POINTS=incentives.points.v1 REWARDS=incentives.rewards.v1
NOTIFICATIONS=incentives.notifications.v1 LIFECYCLE=incentives.reports.lifecycle.v1
COMMANDS=incentives.points.commands.v1 REPLIES=incentives.points.replies.v1
DIRECTORY=incentives.directory.v1

# Municipal systems: each writes only the topics of the events it is the source of.
scram member-registry "$KAFKA_MEMBER_REGISTRY_PASSWORD"
write member-registry $MEMBERS
scram rider-app-gateway "$KAFKA_RIDER_APP_GATEWAY_PASSWORD"
write rider-app-gateway $MEMBERS $REPORTS $REDEMPTIONS
scram dispatch-platform "$KAFKA_DISPATCH_PLATFORM_PASSWORD"
write dispatch-platform $REPORTS
scram volunteer-platform "$KAFKA_VOLUNTEER_PLATFORM_PASSWORD"
write volunteer-platform $VOLUNTEER
# The department registry alone says which departments exist (department.registered / .updated).
scram department-registry "$KAFKA_DEPARTMENT_REGISTRY_PASSWORD"
write department-registry $DIRECTORY
# The push gateway reads the notifications riders get.
scram push-gateway "$KAFKA_PUSH_GATEWAY_PASSWORD"
read_group push-gateway $NOTIFICATIONS

# Services: read what they consume (their group is named after them), write what they publish and
# the dead letters of what they consume, and no other dead letters (tests/test_compose.py checks these
# lists against the services' subscriptions).
scram reports "$KAFKA_REPORTS_PASSWORD"
read_group reports $MEMBERS $REPORTS $DIRECTORY $POINTS
write reports $LIFECYCLE $MEMBERS.dlq $REPORTS.dlq $DIRECTORY.dlq $POINTS.dlq
scram points "$KAFKA_POINTS_PASSWORD"
read_group points $MEMBERS $LIFECYCLE $VOLUNTEER $COMMANDS
write points $POINTS $REPLIES $MEMBERS.dlq $LIFECYCLE.dlq $VOLUNTEER.dlq $COMMANDS.dlq
scram rewards "$KAFKA_REWARDS_PASSWORD"
read_group rewards $MEMBERS $REDEMPTIONS $POINTS $REPLIES $DIRECTORY
write rewards $REWARDS $COMMANDS $MEMBERS.dlq $REDEMPTIONS.dlq $POINTS.dlq $REPLIES.dlq $DIRECTORY.dlq
scram notify "$KAFKA_NOTIFY_PASSWORD"
read_group notify $MEMBERS $POINTS $LIFECYCLE $REWARDS
write notify $NOTIFICATIONS $MEMBERS.dlq $POINTS.dlq $LIFECYCLE.dlq $REWARDS.dlq
# The operator's replays (`docker compose run --rm dlq-replay TOPIC`): read every dead-letter topic
# (group incentives-dlq-replay) and write back to the topics that have consumers, nothing else.
scram dlq-replay "$KAFKA_DLQ_REPLAY_PASSWORD"
GROUP=incentives-dlq-replay read_group dlq-replay $MEMBERS.dlq $REPORTS.dlq $VOLUNTEER.dlq $REDEMPTIONS.dlq \
  $POINTS.dlq $REWARDS.dlq $LIFECYCLE.dlq $COMMANDS.dlq $REPLIES.dlq $DIRECTORY.dlq
write dlq-replay $MEMBERS $REPORTS $VOLUNTEER $REDEMPTIONS $POINTS $REWARDS $LIFECYCLE $COMMANDS $REPLIES $DIRECTORY
rm -f "$CFG"
echo "kafka principals and ACLs provisioned"
