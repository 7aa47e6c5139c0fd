/* Trimmed vmlinux.h for armorc's BPF programs: generated once with
 *   bpftool btf dump file /sys/kernel/btf/vmlinux format c
 * and cut down to the types and fields we use. Kernel structs carry preserve_access_index, so
 * every field access is a CO-RE relocation resolved against the running kernel's BTF; the
 * member order and the missing members here do not matter. */
#ifndef __ARMOR_VMLINUX_H__
#define __ARMOR_VMLINUX_H__

typedef signed char __s8;
typedef unsigned char __u8;
typedef short __s16;
typedef unsigned short __u16;
typedef int __s32;
typedef unsigned int __u32;
typedef long long __s64;
typedef unsigned long long __u64;
typedef __u8 u8;
typedef __u16 u16;
typedef __u32 u32;
typedef __u64 u64;
typedef __s32 s32;
typedef __s64 s64;
typedef __u16 __be16;
typedef __u32 __be32;
typedef __u32 __wsum;
typedef int pid_t;
typedef unsigned int uid_t;
typedef _Bool bool;
#define true 1
#define false 0

enum bpf_map_type {
	BPF_MAP_TYPE_HASH = 1,
	BPF_MAP_TYPE_ARRAY = 2,
	BPF_MAP_TYPE_PERCPU_ARRAY = 6,
	BPF_MAP_TYPE_LRU_HASH = 9,
	BPF_MAP_TYPE_HASH_OF_MAPS = 13,
	BPF_MAP_TYPE_RINGBUF = 27,
};

enum {
	BPF_ANY = 0,
	BPF_NOEXIST = 1,
	BPF_EXIST = 2,
	BPF_F_LOCK = 4,
};

enum {
	BPF_F_NO_PREALLOC = 1,
	BPF_F_INNER_MAP = 4096,
};

/* UAPI context of socket filters (the test-run harness); layout must be exact. */
struct __sk_buff {
	__u32 len;
	__u32 pkt_type;
	__u32 mark;
	__u32 queue_mapping;
	__u32 protocol;
	__u32 vlan_present;
	__u32 vlan_tci;
	__u32 vlan_proto;
	__u32 priority;
	__u32 ingress_ifindex;
	__u32 ifindex;
	__u32 tc_index;
	__u32 cb[5];
	__u32 hash;
	__u32 tc_classid;
	__u32 data;
	__u32 data_end;
	__u32 napi_id;
	__u32 family;
	__u32 remote_ip4;
	__u32 local_ip4;
	__u32 remote_ip6[4];
	__u32 local_ip6[4];
	__u32 remote_port;
	__u32 local_port;
	__u32 data_meta;
	union {
		struct bpf_flow_keys *flow_keys;
	};
	__u64 tstamp;
	__u32 wire_len;
	__u32 gso_segs;
	union {
		struct bpf_sock *sk;
	};
	__u32 gso_size;
	__u8 tstamp_type;
	__u64 hwtstamp;
};

/* uapi/linux/bpf.h: the cgroup/sock_create context (its leading members, a fixed ABI) */
struct bpf_sock {
	__u32 bound_dev_if;
	__u32 family;
	__u32 type;
	__u32 protocol;
};

#pragma clang attribute push (__attribute__((preserve_access_index)), apply_to = record)

typedef struct { uid_t val; } kuid_t;

struct ns_common { unsigned int inum; };
struct pid_namespace { struct ns_common ns; };
struct mnt_namespace { struct ns_common ns; };
struct nsproxy {
	struct mnt_namespace *mnt_ns;
	struct pid_namespace *pid_ns_for_children;
};

struct qstr {
	union {
		struct { u32 hash; u32 len; };
		u64 hash_len;
	};
	const unsigned char *name;
};

struct inode { kuid_t i_uid; unsigned short i_mode; };
struct dentry {
	struct dentry *d_parent;
	struct qstr d_name;
	struct inode *d_inode;
};
struct vfsmount { struct dentry *mnt_root; };
struct mount {
	struct mount *mnt_parent;
	struct dentry *mnt_mountpoint;
	struct vfsmount mnt;
};
struct path { struct vfsmount *mnt; struct dentry *dentry; };
struct file { struct path f_path; struct inode *f_inode; void *private_data; };
struct fdtable { unsigned int max_fds; struct file **fd; };
struct files_struct { struct fdtable *fdt; };
struct fs_struct { struct path root; struct path pwd; };
struct mm_struct { struct file *exe_file; };
struct tty_struct { int index; };
struct signal_struct { struct tty_struct *tty; };
struct upid { int nr; struct pid_namespace *ns; };
struct pid { unsigned int level; struct upid numbers[1]; };
struct task_struct {
	struct task_struct *group_leader;
	struct pid *thread_pid;
	pid_t pid;
	pid_t tgid;
	struct task_struct *real_parent;
	struct task_struct *parent;
	struct mm_struct *mm;
	struct nsproxy *nsproxy;
	struct signal_struct *signal;
	struct fs_struct *fs;
	struct files_struct *files;
};
struct linux_binprm { struct file *file; int argc; unsigned long p; struct mm_struct *mm; };
struct in6_addr { union { u8 u6_addr8[16]; } in6_u; };
/* the kernel nests some of these in anonymous unions and structs: CO-RE finds them by name */
struct sock_common {
	__be32 skc_daddr;
	__be32 skc_rcv_saddr;
	__be16 skc_dport;
	u16 skc_num;
	unsigned short skc_family;
	struct in6_addr skc_v6_daddr;
};
struct sock { struct sock_common __sk_common; u16 sk_protocol; u16 sk_type; };
struct socket { short type; struct sock *sk; };
struct sockaddr;
struct cred;
struct user_namespace;

struct trace_entry {
	unsigned short type;
	unsigned char flags;
	unsigned char preempt_count;
	int pid;
};
struct trace_event_raw_sched_process_exec {
	struct trace_entry ent;
	u32 __data_loc_filename;
	pid_t pid;
	pid_t old_pid;
	char __data[0];
};

#pragma clang attribute pop

#endif
