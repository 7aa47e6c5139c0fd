/* sock.bpf.c: cgroup/sock_create program of `armor-loader exec --lsm landlock`: refuses creating
 * the sockets a Landlock plan's network part refuses (docs/landlock-plan.md, "Network"), for the
 * processes of the fresh cgroup the loader starts the command in. The lookup is BPF-LSM's
 * (decide.h armor_decide_net) without source entries: the socket's type, then its protocol (as
 * the kernel resolved it: a stream socket of protocol 0 is TCP), then the default. The kernel
 * runs it for IPv4 and IPv6 sockets only (inet_create, inet6_create). Returning 0 refuses the
 * socket() call with EPERM. runtime/src/sockets.rs fills the map and the default. */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>

/* key: kind << 16 | number (kind 1: SOCK_* type, 2: IPPROTO_* protocol); value: 1 refuse, 0 allow */
#define ARMOR_SOCK_TYPE 1
#define ARMOR_SOCK_PROTOCOL 2

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16);
	__type(key, __u32);
	__type(value, __u32);
} armor_sock_rules SEC(".maps");

/* what a socket no entry names gets: 1 refuse (a network allow-list), 0 allow */
volatile const __u32 armor_sock_default = 0;

SEC("cgroup/sock_create")
int armor_sock_create(struct bpf_sock *sk)
{
	__u32 key = ARMOR_SOCK_TYPE << 16 | sk->type;
	__u32 *v = bpf_map_lookup_elem(&armor_sock_rules, &key);
	if (!v) {
		key = ARMOR_SOCK_PROTOCOL << 16 | sk->protocol;
		v = bpf_map_lookup_elem(&armor_sock_rules, &key);
	}
	__u32 refuse = v ? *v : armor_sock_default;
	return refuse ? 0 : 1;
}

char LICENSE[] SEC("license") = "GPL";
