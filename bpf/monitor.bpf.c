/* monitor.bpf.c: the visibility monitor. Tracepoint programs (they load where LSM programs do
 * not) record what watched targets do: execs, file opens, connect/accept/bind, capability use.
 * A target is watched when its key ({pid ns for children, mnt ns}, task.h; host {0,0}) is in
 * armor_watch with the kinds asked for; everything else costs one hash lookup. Each record is one
 * armor_log in armor_logs (runtime::monitor turns it into KubeArmor's ContainerLog/HostLog JSON),
 * throttled per target (throttle.h), losses counted in armor_log_stats.
 *
 * Paths are absolute and resolved in the kernel, never relative: an open that succeeded is named
 * by the file its descriptor points to (the dentry walk of task.h); a failed one by its name,
 * joined to the directory of its dirfd or to the task's working directory when relative.
 * Syscall arguments are kept per thread from the enter tracepoint to the exit one, where the
 * result is known. */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include "armor.h"
#include "task.h"
#include "throttle.h"

#define VIS_PROCESS 1
#define VIS_FILE 2
#define VIS_NETWORK 4
#define VIS_CAPABILITY 8

/* armor_log.kind */
#define LOG_PROCESS 1
#define LOG_FILE 2
#define LOG_CONNECT 3
#define LOG_ACCEPT 4
#define LOG_BIND 5
#define LOG_CAPABILITY 6
#define LOG_THRESHOLD 7

/* which system call a pending record came from (armor_log.syscall) */
#define SC_OPEN 1
#define SC_OPENAT 2
#define SC_OPENAT2 3
#define SC_CONNECT 4
#define SC_ACCEPT 5
#define SC_ACCEPT4 6
#define SC_BIND 7

#define LOG_STAT_RINGBUF_FULL 0
#define LOG_STAT_THROTTLED 1

#define AT_FDCWD -100
#define AF_INET 2
#define AF_INET6 10
#define EINPROGRESS 115

struct armor_log {
	__u64 boot_ns;
	__u32 kind;      /* LOG_* */
	__s32 ret;       /* the system call's result: >= 0, or -errno */
	__u32 pid_ns;    /* the target key */
	__u32 mnt_ns;
	__u32 host_pid;
	__u32 host_ppid;
	__u32 pid;       /* in the task's own pid namespace */
	__u32 ppid;
	__u32 uid;
	__u32 flags;     /* open flags */
	__u32 family;    /* AF_INET, AF_INET6 */
	__u32 sock_type; /* SOCK_STREAM, ... */
	__u32 protocol;  /* IPPROTO_TCP, ... */
	__u32 port;      /* host order: the peer's (connect), the local one (accept, bind) */
	__u32 path_len;
	__u32 src_len;
	__u32 syscall;   /* SC_* */
	__u32 cap;
	__u8 addr[16];   /* the address of `port`, 4 or 16 bytes */
	char comm[16];
	char path[2 * MAX_PATH]; /* a resolved directory (MAX_PATH + 256) joined to a relative name */
	char src[MAX_PATH + 256];
};

/* runtime/src/monitor.rs reads records at these offsets */
_Static_assert(sizeof(struct armor_log) == 112 + 2 * MAX_PATH + MAX_PATH + 256, "armor_log layout");
_Static_assert(__builtin_offsetof(struct armor_log, comm) == 96, "armor_log layout");

/* Arguments of a system call in progress, by thread. */
struct armor_pending {
	__u64 arg0;
	__u64 arg1;
	__u64 arg2;
	__u32 syscall;
	__u32 pad;
};

/* The syscall tracepoints' context (syscall_trace_enter/exit); not a CO-RE type. */
struct armor_sys_enter {
	__u64 ent;
	long nr;
	unsigned long args[6];
};
struct armor_sys_exit {
	__u64 ent;
	long nr;
	long ret;
};
/* capability/cap_capable (Linux 6.14 and later) */
struct armor_cap_capable {
	__u64 ent;
	__u64 cred;
	__u64 target_ns;
	__u64 capable_ns;
	int cap;
	int ret;
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, MAX_TARGETS);
	__type(key, struct armor_outer_key);
	__type(value, __u32); /* VIS_* bits */
} armor_watch SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 1 << 23);
} armor_logs SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16384);
	__type(key, __u32); /* thread id */
	__type(value, struct armor_pending);
} armor_pending SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct armor_log);
} armor_log_scratch SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct armor_config);
} armor_log_config SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, MAX_TARGETS);
	__type(key, struct armor_outer_key);
	__type(value, struct armor_throttle);
} armor_log_throttle SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 2);
	__type(key, __u32);
	__type(value, __u64);
} armor_log_stats SEC(".maps");

/* capabilities already reported, by (thread group, capability): one record each */
struct armor_cap_seen {
	__u32 tgid;
	__u32 cap;
};
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 16384);
	__type(key, struct armor_cap_seen);
	__type(value, __u8);
} armor_caps_seen SEC(".maps");

static __always_inline void armor_log_count(__u32 stat)
{
	__u64 *n = bpf_map_lookup_elem(&armor_log_stats, &stat);
	if (n)
		__sync_fetch_and_add(n, 1);
}

/* The current task's key when it is watched for `kind`. */
static __always_inline bool armor_watched(struct armor_outer_key *k, __u32 kind)
{
	*k = armor_task_key((struct task_struct *)bpf_get_current_task());
	__u32 *kinds = bpf_map_lookup_elem(&armor_watch, k);
	return kinds && (*kinds & kind);
}

/* The scratch record with its task fields filled, or NULL when the target is throttled. */
static __always_inline struct armor_log *armor_log_begin(__u32 kind, struct armor_outer_key *k)
{
	__u32 zero = 0;
	__u64 now = bpf_ktime_get_boot_ns();
	struct armor_log *l = bpf_map_lookup_elem(&armor_log_scratch, &zero);
	if (!l)
		return 0;
	struct armor_config *cfg = bpf_map_lookup_elem(&armor_log_config, &zero);
	int verdict = armor_throttle_check(cfg, &armor_log_throttle, k, now);
	if (verdict != THROTTLE_PASS) {
		armor_log_count(LOG_STAT_THROTTLED);
		if (verdict == THROTTLE_START && cfg) {
			/* one LOG_THRESHOLD record: the limit in cap, the mute in flags */
			__builtin_memset(l, 0, 128);
			l->boot_ns = now;
			l->kind = LOG_THRESHOLD;
			l->pid_ns = k->pid_ns;
			l->mnt_ns = k->mnt_ns;
			l->cap = cfg->max_per_sec;
			l->flags = cfg->throttle_sec;
			if (bpf_ringbuf_output(&armor_logs, l, sizeof(*l), 0))
				armor_log_count(LOG_STAT_RINGBUF_FULL);
		}
		return 0;
	}
	struct task_struct *t = (struct task_struct *)bpf_get_current_task();
	struct task_struct *parent = BPF_CORE_READ(t, real_parent);
	__builtin_memset(l, 0, 128);
	l->boot_ns = now;
	l->kind = kind;
	l->pid_ns = k->pid_ns;
	l->mnt_ns = k->mnt_ns;
	l->host_pid = BPF_CORE_READ(t, tgid);
	l->host_ppid = BPF_CORE_READ(parent, tgid);
	l->pid = armor_ns_pid(BPF_CORE_READ(t, group_leader, thread_pid));
	l->ppid = armor_ns_pid(BPF_CORE_READ(parent, group_leader, thread_pid));
	l->uid = (__u32)bpf_get_current_uid_gid();
	bpf_get_current_comm(l->comm, sizeof(l->comm));
	struct file *exe = BPF_CORE_READ(t, mm, exe_file);
	l->src_len = exe ? armor_file_path(exe, l->src) : 0;
	return l;
}

static __always_inline void armor_log_submit(struct armor_log *l)
{
	if (bpf_ringbuf_output(&armor_logs, l, sizeof(*l), 0))
		armor_log_count(LOG_STAT_RINGBUF_FULL);
}

/* The open file behind descriptor `fd` of the current task, or NULL. */
static __always_inline struct file *armor_fd_file(long fd)
{
	struct task_struct *t = (struct task_struct *)bpf_get_current_task();
	struct fdtable *fdt = BPF_CORE_READ(t, files, fdt);
	if (fd < 0 || fd >= BPF_CORE_READ(fdt, max_fds))
		return 0;
	struct file **fds = BPF_CORE_READ(fdt, fd);
	struct file *f = 0;
	bpf_probe_read_kernel(&f, sizeof(f), &fds[fd]);
	return f;
}

/* ---- process ---- */

SEC("tracepoint/sched/sched_process_exec")
int armor_mon_exec(void *ctx)
{
	struct armor_outer_key k;
	if (!armor_watched(&k, VIS_PROCESS))
		return 0;
	struct armor_log *l = armor_log_begin(LOG_PROCESS, &k);
	if (!l)
		return 0;
	/* src is now the new image: move it to path, and name the parent's executable as source */
	struct task_struct *t = (struct task_struct *)bpf_get_current_task();
	struct file *exe = BPF_CORE_READ(t, mm, exe_file);
	l->path_len = exe ? armor_file_path(exe, l->path) : 0;
	struct file *pexe = BPF_CORE_READ(t, real_parent, mm, exe_file);
	l->src_len = pexe ? armor_file_path(pexe, l->src) : 0;
	armor_log_submit(l);
	return 0;
}

/* ---- pending system calls ---- */

static __always_inline int armor_pend(__u32 kind, __u32 syscall, __u64 a0, __u64 a1, __u64 a2)
{
	struct armor_outer_key k;
	if (!armor_watched(&k, kind))
		return 0;
	/* a muted target's calls are dropped here, before the exit side does any work */
	struct armor_throttle *th = bpf_map_lookup_elem(&armor_log_throttle, &k);
	if (th && bpf_ktime_get_boot_ns() < th->muted_until) {
		armor_log_count(LOG_STAT_THROTTLED);
		return 0;
	}
	__u32 tid = (__u32)bpf_get_current_pid_tgid();
	struct armor_pending p = {.arg0 = a0, .arg1 = a1, .arg2 = a2, .syscall = syscall};
	bpf_map_update_elem(&armor_pending, &tid, &p, BPF_ANY);
	return 0;
}

SEC("tracepoint/syscalls/sys_enter_openat")
int armor_mon_openat(struct armor_sys_enter *ctx)
{
	return armor_pend(VIS_FILE, SC_OPENAT, ctx->args[0], ctx->args[1], ctx->args[2]);
}

SEC("tracepoint/syscalls/sys_enter_openat2")
int armor_mon_openat2(struct armor_sys_enter *ctx)
{
	struct open_how_flags {
		__u64 flags;
	} how = {};
	bpf_probe_read_user(&how, sizeof(how), (void *)ctx->args[2]);
	return armor_pend(VIS_FILE, SC_OPENAT2, ctx->args[0], ctx->args[1], how.flags);
}

/* x86_64 only: open(2) does not exist on aarch64 (the loader attaches it where it exists) */
SEC("tracepoint/syscalls/sys_enter_open")
int armor_mon_open(struct armor_sys_enter *ctx)
{
	return armor_pend(VIS_FILE, SC_OPEN, (__u64)(long)AT_FDCWD, ctx->args[0], ctx->args[1]);
}

SEC("tracepoint/syscalls/sys_enter_connect")
int armor_mon_connect(struct armor_sys_enter *ctx)
{
	return armor_pend(VIS_NETWORK, SC_CONNECT, ctx->args[0], ctx->args[1], ctx->args[2]);
}

SEC("tracepoint/syscalls/sys_enter_bind")
int armor_mon_bind(struct armor_sys_enter *ctx)
{
	return armor_pend(VIS_NETWORK, SC_BIND, ctx->args[0], ctx->args[1], ctx->args[2]);
}

SEC("tracepoint/syscalls/sys_enter_accept")
int armor_mon_accept(struct armor_sys_enter *ctx)
{
	return armor_pend(VIS_NETWORK, SC_ACCEPT, ctx->args[0], 0, 0);
}

SEC("tracepoint/syscalls/sys_enter_accept4")
int armor_mon_accept4(struct armor_sys_enter *ctx)
{
	return armor_pend(VIS_NETWORK, SC_ACCEPT4, ctx->args[0], 0, 0);
}

/* ---- completions ---- */

/* The path of a failed open: `name` (user memory) as given when absolute, else joined to the
 * directory of `dfd` (AT_FDCWD: the working directory). */
static __always_inline __u32 armor_failed_open_path(struct armor_log *l, long dfd, const char *name)
{
	char first = 0;
	bpf_probe_read_user(&first, 1, name);
	__u32 base = 0;
	if (first != '/') {
		struct dentry *d;
		struct vfsmount *m;
		if (dfd == AT_FDCWD) {
			struct task_struct *t = (struct task_struct *)bpf_get_current_task();
			d = BPF_CORE_READ(t, fs, pwd.dentry);
			m = BPF_CORE_READ(t, fs, pwd.mnt);
		} else {
			struct file *f = armor_fd_file(dfd);
			if (!f)
				return 0;
			d = BPF_CORE_READ(f, f_path.dentry);
			m = BPF_CORE_READ(f, f_path.mnt);
		}
		base = armor_path(d, m, l->path);
		if (!base || base >= MAX_PATH)
			return 0;
		if (base > 1) { /* not the root itself */
			__u32 slash = base;
			barrier_var(slash); /* keeps the mask: clang would drop it after the check above */
			l->path[slash & (MAX_PATH - 1)] = '/';
			base++;
		}
	}
	__u32 at = base;
	barrier_var(at);
	long n = bpf_probe_read_user_str(&l->path[at & (MAX_PATH - 1)], MAX_PATH, name);
	if (n <= 0)
		return 0;
	return base + n - 1;
}

static __always_inline void armor_file_done(struct armor_log *l, struct armor_pending *p, long ret)
{
	l->flags = (__u32)p->arg2;
	if (ret >= 0) {
		struct file *f = armor_fd_file(ret);
		l->path_len = f ? armor_file_path(f, l->path) : 0;
	} else {
		/* dirfd is an int: the upper half of its register is not sign-extended */
		l->path_len = armor_failed_open_path(l, (int)p->arg0, (const char *)p->arg1);
	}
}

/* The socket behind descriptor `fd`, or NULL. Only sockets get here (connect/bind/accept
 * succeeded on them or named them), and their file's private_data is the struct socket. */
static __always_inline struct sock *armor_fd_sock(long fd)
{
	struct file *f = armor_fd_file(fd);
	if (!f)
		return 0;
	struct socket *s = (struct socket *)BPF_CORE_READ(f, private_data);
	return s ? BPF_CORE_READ(s, sk) : 0;
}

/* An AF_INET or AF_INET6 sockaddr from user memory into family/port/addr; false otherwise. */
static __always_inline bool armor_sockaddr(struct armor_log *l, const void *uaddr)
{
	struct {
		__u16 family;
		__u16 port_be;
		__u32 flowinfo_or_addr4;
		__u8 addr6[16];
	} sa = {};
	if (bpf_probe_read_user(&sa, sizeof(sa), uaddr))
		return false;
	l->family = sa.family;
	l->port = (__u16)((sa.port_be >> 8) | (sa.port_be << 8));
	if (sa.family == AF_INET) {
		__builtin_memcpy(l->addr, &sa.flowinfo_or_addr4, 4);
		return true;
	}
	if (sa.family == AF_INET6) {
		__builtin_memcpy(l->addr, sa.addr6, 16);
		return true;
	}
	return false;
}

static __always_inline bool armor_net_done(struct armor_log *l, struct armor_pending *p, long ret)
{
	struct sock *sk;
	if (p->syscall == SC_ACCEPT || p->syscall == SC_ACCEPT4) {
		if (ret < 0)
			return false; /* nobody connected: nothing to name */
		sk = armor_fd_sock(ret);
		if (!sk)
			return false;
		/* the peer's address and the local port it connected to (the port a NetworkPolicy
		 * ingress rule names; KubeArmor's tcp_accept records read the same way) */
		l->family = BPF_CORE_READ(sk, __sk_common.skc_family);
		l->port = BPF_CORE_READ(sk, __sk_common.skc_num);
		if (l->family == AF_INET) {
			__be32 a = BPF_CORE_READ(sk, __sk_common.skc_daddr);
			__builtin_memcpy(l->addr, &a, 4);
		} else if (l->family == AF_INET6) {
			BPF_CORE_READ_INTO(&l->addr, sk, __sk_common.skc_v6_daddr.in6_u.u6_addr8);
		} else {
			return false;
		}
	} else {
		if (!armor_sockaddr(l, (const void *)p->arg1))
			return false;
		sk = armor_fd_sock((long)p->arg0);
	}
	if (sk) {
		l->sock_type = BPF_CORE_READ(sk, sk_type);
		l->protocol = BPF_CORE_READ(sk, sk_protocol);
		/* a bind to port 0 got an ephemeral port: name the one bound */
		if (p->syscall == SC_BIND && ret == 0 && l->port == 0)
			l->port = BPF_CORE_READ(sk, __sk_common.skc_num);
	}
	return true;
}

/* attached to the exit tracepoint of each system call above */
SEC("tracepoint/syscalls/sys_exit_openat")
int armor_mon_exit(struct armor_sys_exit *ctx)
{
	__u32 tid = (__u32)bpf_get_current_pid_tgid();
	struct armor_pending *pp = bpf_map_lookup_elem(&armor_pending, &tid);
	if (!pp)
		return 0;
	struct armor_pending p = *pp;
	bpf_map_delete_elem(&armor_pending, &tid);
	long ret = ctx->ret;
	struct armor_outer_key k;
	k = armor_task_key((struct task_struct *)bpf_get_current_task());
	__u32 kind;
	switch (p.syscall) {
	case SC_CONNECT:
		kind = LOG_CONNECT;
		break;
	case SC_ACCEPT:
	case SC_ACCEPT4:
		kind = LOG_ACCEPT;
		break;
	case SC_BIND:
		kind = LOG_BIND;
		break;
	default:
		kind = LOG_FILE;
	}
	struct armor_log *l = armor_log_begin(kind, &k);
	if (!l)
		return 0;
	l->syscall = p.syscall;
	l->ret = (__s32)ret;
	if (kind == LOG_FILE) {
		armor_file_done(l, &p, ret);
	} else {
		if (kind == LOG_CONNECT && ret == -EINPROGRESS)
			l->ret = 0; /* a non-blocking connect under way */
		if (!armor_net_done(l, &p, ret))
			return 0;
	}
	armor_log_submit(l);
	return 0;
}

/* ---- capabilities (where the tracepoint exists) ---- */

SEC("tracepoint/capability/cap_capable")
int armor_mon_capable(struct armor_cap_capable *ctx)
{
	if (ctx->ret != 0)
		return 0; /* checked but not held: not a use */
	struct armor_outer_key k;
	if (!armor_watched(&k, VIS_CAPABILITY))
		return 0;
	struct armor_cap_seen seen = {.tgid = (__u32)(bpf_get_current_pid_tgid() >> 32), .cap = ctx->cap};
	__u8 one = 1;
	if (bpf_map_update_elem(&armor_caps_seen, &seen, &one, BPF_NOEXIST))
		return 0; /* reported already for this process */
	struct armor_log *l = armor_log_begin(LOG_CAPABILITY, &k);
	if (!l)
		return 0;
	l->cap = ctx->cap;
	armor_log_submit(l);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
