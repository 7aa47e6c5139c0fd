/* events.h: alerts from the LSM programs. Every decision that denies, or that a posture audits,
 * becomes one armor_event in the armor_events ring buffer (runtime::events turns it into
 * KubeArmor's alert JSON). Per target, at most armor_config.max_per_sec events a second pass;
 * past that the target is muted for throttle_sec seconds and one EV_THRESHOLD record says so
 * (KubeArmor's alert throttling). Records lost to a full ring buffer or to throttling are
 * counted in armor_stats. Needs armor.h, maps.h and task.h included first. */
#ifndef __ARMOR_EVENTS_H__
#define __ARMOR_EVENTS_H__

#include "throttle.h"

#define EV_DECISION 1
#define EV_THRESHOLD 2

#define STAT_RINGBUF_FULL 0
#define STAT_THROTTLED 1
#define STAT_COUNT 2

struct armor_event {
	__u64 boot_ns;    /* bpf_ktime_get_boot_ns() */
	__u32 kind;       /* EV_DECISION or EV_THRESHOLD */
	__u32 word;       /* result word (armor.h) */
	__u32 pid_ns;     /* the target key */
	__u32 mnt_ns;
	__u32 host_pid;   /* tgid and parent tgid in the initial pid namespace */
	__u32 host_ppid;
	__u32 pid;        /* the same in the task's own pid namespace */
	__u32 ppid;
	__u32 uid;
	__u32 op;         /* OP_* */
	__u32 sock_type;
	__u32 sock_proto;
	__u32 cap;
	__u32 path_len;   /* bytes of path[] used (0: none) */
	__u32 src_len;    /* bytes of src[] used: the task's executable */
	__u32 pad;
	char comm[16];
	char path[MAX_PATH];
	char src[MAX_PATH];
};

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 1 << 22);
} armor_events SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct armor_config);
} armor_config SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, STAT_COUNT);
	__type(key, __u32);
	__type(value, __u64);
} armor_stats SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, MAX_TARGETS);
	__type(key, struct armor_outer_key);
	__type(value, struct armor_throttle);
} armor_throttle SEC(".maps");

static __always_inline void armor_count(__u32 stat)
{
	__u64 *n = bpf_map_lookup_elem(&armor_stats, &stat);
	if (n)
		__sync_fetch_and_add(n, 1);
}

/* false when the target is muted; may emit the EV_THRESHOLD record that starts a mute. */
static __always_inline bool armor_throttle_pass(struct armor_outer_key *k, __u64 now)
{
	__u32 zero = 0;
	struct armor_config *cfg = bpf_map_lookup_elem(&armor_config, &zero);
	int verdict = armor_throttle_check(cfg, &armor_throttle, k, now);
	if (verdict != THROTTLE_START)
		return verdict == THROTTLE_PASS;
	if (!cfg)
		return false;
	struct armor_event *ev = bpf_ringbuf_reserve(&armor_events, sizeof(*ev), 0);
	if (!ev) {
		armor_count(STAT_RINGBUF_FULL);
		return false;
	}
	/* header fields only (path/src/comm unused): max_per_sec in cap, throttle_sec in sock_type */
	ev->boot_ns = now;
	ev->kind = EV_THRESHOLD;
	ev->word = 0;
	ev->pid_ns = k->pid_ns;
	ev->mnt_ns = k->mnt_ns;
	ev->host_pid = ev->host_ppid = ev->pid = ev->ppid = ev->uid = ev->op = ev->sock_proto = 0;
	ev->cap = cfg->max_per_sec;
	ev->sock_type = cfg->throttle_sec;
	ev->path_len = ev->src_len = ev->pad = 0;
	bpf_ringbuf_submit(ev, 0);
	return false;
}

/* One alert for request `r` decided as `word` in target `k`. */
static __always_inline void armor_report(struct armor_req *r, __u32 word, struct armor_outer_key *k)
{
	__u64 now = bpf_ktime_get_boot_ns();
	if (!armor_throttle_pass(k, now)) {
		armor_count(STAT_THROTTLED);
		return;
	}
	struct armor_event *ev = bpf_ringbuf_reserve(&armor_events, sizeof(*ev), 0);
	if (!ev) {
		armor_count(STAT_RINGBUF_FULL);
		return;
	}
	struct task_struct *t = (struct task_struct *)bpf_get_current_task();
	struct task_struct *parent = BPF_CORE_READ(t, real_parent);
	ev->boot_ns = now;
	ev->kind = EV_DECISION;
	ev->word = word;
	ev->pid_ns = k->pid_ns;
	ev->mnt_ns = k->mnt_ns;
	ev->host_pid = BPF_CORE_READ(t, tgid);
	ev->host_ppid = BPF_CORE_READ(parent, tgid);
	ev->pid = armor_ns_pid(BPF_CORE_READ(t, group_leader, thread_pid));
	ev->ppid = armor_ns_pid(BPF_CORE_READ(parent, group_leader, thread_pid));
	ev->uid = (__u32)bpf_get_current_uid_gid();
	ev->op = r->op;
	ev->sock_type = r->sock_type;
	ev->sock_proto = r->sock_proto;
	ev->cap = r->cap;
	ev->pad = 0;
	bpf_get_current_comm(ev->comm, sizeof(ev->comm));
	__u32 len = r->path_len;
	ev->path_len = len > MAX_PATH ? MAX_PATH : len;
	bpf_probe_read_kernel(ev->path, MAX_PATH, r->path);
	len = r->src_len;
	ev->src_len = len > MAX_PATH ? MAX_PATH : len;
	bpf_probe_read_kernel(ev->src, MAX_PATH, r->tmp);
	bpf_ringbuf_submit(ev, 0);
}

#endif
