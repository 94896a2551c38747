#!/usr/bin/env bash
# Prototype of CephRgw.cs by hand: a single-node Ceph (one mon, one memstore OSD, radosgw beast on
# 127.0.0.1) in DIR, a user with the keys given. Prints the endpoint. Stop: SIGTERM the PIDs in
# DIR/run/ in the order rgw.pid, osd.0.pid, mon.a.pid.
#   start-rgw.sh DIR ACCESS_KEY SECRET_KEY
set -euo pipefail
dir=$1 key=$2 secret=$3
mkdir -p "$dir"
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
mon_port=$(free_port) rgw_port=$(free_port)
fsid=$(python3 -c 'import uuid; print(uuid.uuid4())')
cat > "$dir/ceph.conf" <<CONF
[global]
fsid = $fsid
mon_host = v2:127.0.0.1:$mon_port
auth_cluster_required = none
auth_service_required = none
auth_client_required = none
ms_mon_client_mode = crc
osd_pool_default_size = 1
osd_pool_default_min_size = 1
mon_allow_pool_size_one = true
osd_crush_chooseleaf_type = 0
osd_pool_default_pg_num = 8
osd_pool_default_pgp_num = 8
osd_pool_default_pg_autoscale_mode = off
paxos_propose_interval = 0.01
paxos_min_wait = 0.01
run_dir = $dir/run
admin_socket = $dir/run/\$name.asok
pid_file = $dir/run/\$name.pid
log_file = $dir/log/\$name.log
mon_data = $dir/mon/\$cluster-\$id
osd_data = $dir/osd/\$cluster-\$id
osd_objectstore = memstore
memstore_device_bytes = 4294967296
rgw_gc_obj_min_wait = 30
rgw_gc_processor_period = 30
[client]
admin_socket =
[client.rgw.0]
rgw_frontends = beast endpoint=127.0.0.1:$rgw_port tcp_nodelay=1
rgw_data = $dir/rgw
CONF
mkdir -p "$dir/run" "$dir/log" "$dir/mon/ceph-a" "$dir/osd/ceph-0" "$dir/rgw"
conf="$dir/ceph.conf"
monmaptool --create --fsid "$fsid" --addv a "[v2:127.0.0.1:$mon_port]" "$dir/monmap" >/dev/null
ceph-mon -c "$conf" -i a --mkfs --monmap "$dir/monmap"
ceph-mon -c "$conf" -i a
uuid=$(python3 -c 'import uuid; print(uuid.uuid4())')
timeout 30 ceph -c "$conf" osd new "$uuid" >/dev/null
ceph-osd -c "$conf" -i 0 --mkfs --osd-uuid "$uuid" 2>/dev/null
ceph-osd -c "$conf" -i 0
setsid radosgw -c "$conf" -n client.rgw.0 -f > "$dir/log/rgw.out" 2>&1 &
echo $! > "$dir/run/rgw.pid"
for i in $(seq 1 300); do
  curl -s -o /dev/null "http://127.0.0.1:$rgw_port/" && break
  sleep 0.1
done
timeout 30 radosgw-admin -c "$conf" user create --uid=ci --display-name=ci --access-key="$key" --secret-key="$secret" >/dev/null
echo "http://127.0.0.1:$rgw_port"
