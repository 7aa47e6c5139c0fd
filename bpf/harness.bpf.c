/* harness.bpf.c: socket-filter program run with BPF_PROG_TEST_RUN. It reads one serialized query
 * (armor_query_hdr + path + source + args), builds the request in C (hashes, directory
 * prefixes, basename, source hash) and runs the same armor_decide() the LSM programs use against
 * the target's rule map in armor_targets. Returns the result word (armor.h). */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include "armor.h"
#include "maps.h"
#include "decide.h"

#define ERR_QUERY 0xff000000u /* malformed query: never a valid result word (rule bits) */
#define ERR_NO_TARGET 0xfe000000u

struct armor_args_ctx {
	struct __sk_buff *skb;
	struct armor_query_hdr *q;
	__u32 off;
	__u32 err;
};

/* argument i: read its bytes from the packet and hash them */
static long armor_harness_arg(__u64 i, void *vctx)
{
	struct armor_args_ctx *x = vctx;
	struct armor_req *r = armor_req_get();
	__u32 k = i & 31;
	if (!r || k >= MAX_ARGS) {
		x->err = 1;
		return 1;
	}
	__u32 len = x->q->arg_len[k];
	if (len > MAX_ARG_LEN) {
		x->err = 1;
		return 1;
	}
	if (len > 0 && bpf_skb_load_bytes(x->skb, x->off, r->tmp, armor_size(len, 127))) {
		x->err = 1;
		return 1;
	}
	r->arg_len[k] = len;
	r->arg_a[k] = armor_hash_arg(r, len);
	x->off += len;
	return 0;
}

SEC("socket")
int armor_harness(struct __sk_buff *skb)
{
	struct armor_query_hdr q;
	struct armor_req *r = armor_req_get();
	if (!r)
		return ERR_QUERY;
	if (bpf_skb_load_bytes(skb, 0, &q, sizeof(q)))
		return ERR_QUERY;
	if (q.path_len > MAX_PATH || q.src_len > MAX_PATH || q.argc > MAX_ARGS)
		return ERR_QUERY;

	r->op = q.op;
	r->owner = q.owner;
	r->tty = q.tty;
	r->argc = q.argc;
	r->args_known = 1;
	r->sock_type = q.sock_type;
	r->sock_proto = q.sock_proto;
	r->cap = q.cap;
	r->path_len = q.path_len;

	__u32 off = sizeof(q);
	__u32 len = q.path_len;
	if (len > 0 && len <= MAX_PATH) {
		if (bpf_skb_load_bytes(skb, off, r->path, armor_size(len, MAX_PATH - 1)))
			return ERR_QUERY;
	}
	armor_hash_path(r);
	off += q.path_len;

	len = q.src_len;
	r->src = 0;
	if (len > 0 && len <= MAX_PATH) {
		if (bpf_skb_load_bytes(skb, off, r->tmp, armor_size(len, MAX_PATH - 1)))
			return ERR_QUERY;
		r->src = armor_hash_source(r, len);
	}
	off += q.src_len;

	struct armor_args_ctx ax = {.skb = skb, .q = &q, .off = off};
	bpf_loop(q.argc, armor_harness_arg, &ax, 0);
	if (ax.err)
		return ERR_QUERY;

	struct armor_outer_key ok = {.pid_ns = q.pid_ns, .mnt_ns = q.mnt_ns};
	void *inner = bpf_map_lookup_elem(&armor_targets, &ok);
	if (!inner)
		return ERR_NO_TARGET;
	return armor_decide(inner, r);
}

/* Benchmark floor: the packet carries {pid_ns, mnt_ns} and one ready-made 32-byte key; one
 * outer and one inner lookup, nothing else. */
SEC("socket")
int armor_floor(struct __sk_buff *skb)
{
	struct {
		struct armor_outer_key ok;
		struct armor_key k;
	} in;
	if (bpf_skb_load_bytes(skb, 0, &in, sizeof(in)))
		return ERR_QUERY;
	void *inner = bpf_map_lookup_elem(&armor_targets, &in.ok);
	if (!inner)
		return ERR_NO_TARGET;
	return bpf_map_lookup_elem(inner, &in.k) ? 1 : 0;
}

char LICENSE[] SEC("license") = "GPL";
