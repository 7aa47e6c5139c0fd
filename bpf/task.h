/* task.h: task-side extraction shared by the LSM programs, the visibility monitor and the sched_process_exec tracepoint:
 * the target key (pid and mount namespace inums), pids in their own namespace, tty, owner (inode uid vs current uid) and
 * full paths by a dentry walk that crosses mounts up to the namespace root (pipes, sockets and
 * other pseudo-files have none: their walk is left unresolved and path rules never match them). */
#ifndef __ARMOR_TASK_H__
#define __ARMOR_TASK_H__

#define PROC_PID_INIT_INO 0xEFFFFFFCU
#define MAX_COMPONENTS 48

/* {pid ns (for children), mnt ns}; every task of the initial pid namespace is the host {0,0}. */
static __always_inline struct armor_outer_key armor_task_key(struct task_struct *t)
{
	struct armor_outer_key k = {
		.pid_ns = BPF_CORE_READ(t, nsproxy, pid_ns_for_children, ns.inum),
		.mnt_ns = BPF_CORE_READ(t, nsproxy, mnt_ns, ns.inum),
	};
	if (k.pid_ns == PROC_PID_INIT_INO) {
		k.pid_ns = 0;
		k.mnt_ns = 0;
	}
	return k;
}

/* The pid of `p` as seen in its own (deepest) pid namespace. */
static __always_inline __u32 armor_ns_pid(struct pid *p)
{
	unsigned int level = BPF_CORE_READ(p, level);
	__u32 nr = 0;
	void *numbers = (void *)p + bpf_core_field_offset(struct pid, numbers);
	bpf_probe_read_kernel(&nr, sizeof(nr), numbers + (level & 31) * bpf_core_type_size(struct upid));
	return nr;
}

static __always_inline bool armor_task_tty(struct task_struct *t)
{
	return BPF_CORE_READ(t, signal, tty) != 0;
}

static __always_inline __u32 armor_inode_uid(struct dentry *d)
{
	return BPF_CORE_READ(d, d_inode, i_uid.val);
}

/* Component list of the path being built (leaf first), per CPU. */
struct armor_components {
	__u64 name[MAX_COMPONENTS];
	__u32 len[MAX_COMPONENTS];
	__u32 n;
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct armor_components);
} armor_path_scratch SEC(".maps");

struct armor_walk_ctx {
	__u64 dentry;
	__u64 mnt; /* struct mount * */
	__u32 done;
};

/* One step up: record the dentry's name, move to its parent, or across a mount point. */
static long armor_up(__u64 i, void *vctx)
{
	struct armor_walk_ctx *x = vctx;
	__u32 zero = 0;
	struct armor_components *c = bpf_map_lookup_elem(&armor_path_scratch, &zero);
	if (!c)
		return 1;
	struct dentry *d = (struct dentry *)x->dentry;
	struct mount *m = (struct mount *)x->mnt;
	struct dentry *root = BPF_CORE_READ(m, mnt.mnt_root);
	if (d == root) {
		struct mount *parent = BPF_CORE_READ(m, mnt_parent);
		if (parent == m) {
			x->done = 1; /* the namespace root */
			return 1;
		}
		x->dentry = (__u64)BPF_CORE_READ(m, mnt_mountpoint);
		x->mnt = (__u64)parent;
		return 0;
	}
	struct dentry *up = BPF_CORE_READ(d, d_parent);
	if (up == d)
		return 1; /* its own parent but not its mount's root: a pipe, a socket or another
			     pseudo-file no path names (left unresolved: done stays 0) */
	if (c->n >= MAX_COMPONENTS)
		return 1; /* too deep: left incomplete (done stays 0) */
	c->name[c->n & (MAX_COMPONENTS - 1)] = (__u64)BPF_CORE_READ(d, d_name.name);
	c->len[c->n & (MAX_COMPONENTS - 1)] = BPF_CORE_READ(d, d_name.len);
	c->n++;
	x->dentry = (__u64)up;
	return 0;
}

struct armor_emit_ctx {
	char *out; /* MAX_PATH + 256 bytes of map value */
	__u32 off;
	__u32 overflow;
};

static long armor_emit(__u64 i, void *vctx)
{
	struct armor_emit_ctx *x = vctx;
	__u32 zero = 0;
	struct armor_components *c = bpf_map_lookup_elem(&armor_path_scratch, &zero);
	if (!c || i >= c->n)
		return 1;
	__u32 k = (c->n - 1 - i) & (MAX_COMPONENTS - 1);
	__u32 len = c->len[k];
	if (x->off + 1 + len > MAX_PATH) {
		x->overflow = 1;
		return 1;
	}
	x->out[x->off & (MAX_PATH - 1)] = '/';
	x->off++;
	bpf_probe_read_kernel(&x->out[x->off & (MAX_PATH - 1)], len & 255, (void *)c->name[k]);
	x->off += len;
	return 0;
}

/* Full path of (dentry, vfsmount) into out[0..MAX_PATH + 256); returns its length, or 0 when it
 * cannot be resolved (too deep or longer than MAX_PATH). */
static __always_inline __u32 armor_path(struct dentry *d, struct vfsmount *vfs, char *out)
{
	__u32 zero = 0;
	struct armor_components *c = bpf_map_lookup_elem(&armor_path_scratch, &zero);
	if (!c)
		return 0;
	c->n = 0;
	struct armor_walk_ctx w = {
		.dentry = (__u64)d,
		.mnt = (__u64)container_of(vfs, struct mount, mnt),
	};
	bpf_loop(MAX_COMPONENTS * 2, armor_up, &w, 0);
	if (!w.done)
		return 0;
	if (c->n == 0) {
		out[0] = '/';
		return 1;
	}
	struct armor_emit_ctx e = {.out = out};
	bpf_loop(MAX_COMPONENTS, armor_emit, &e, 0);
	return e.overflow ? 0 : e.off;
}

static __always_inline __u32 armor_file_path(struct file *f, char *out)
{
	return armor_path(BPF_CORE_READ(f, f_path.dentry), BPF_CORE_READ(f, f_path.mnt), out);
}

#endif
