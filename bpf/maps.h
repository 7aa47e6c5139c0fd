/* maps.h: the maps every armorc program shares (pinned by name under /sys/fs/bpf/armorc). */
#ifndef __ARMOR_MAPS_H__
#define __ARMOR_MAPS_H__

/* Template of the per-target rule map (hash maps of any size fit: the kernel does not compare
 * max_entries of hash inner maps). Sizes, not BTF types: user space creates the rule maps
 * without BTF, and kernels before 6.2 compare the template's BTF-derived timer offset with the
 * new map's (a BTF template refuses every swap with EINVAL there). */
struct armor_inner {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, INNER_CAPACITY);
	__uint(key_size, sizeof(struct armor_key));
	__uint(value_size, sizeof(struct armor_value));
};

/* {pid ns, mnt ns} -> that target's rule map */
struct {
	__uint(type, BPF_MAP_TYPE_HASH_OF_MAPS);
	__uint(max_entries, MAX_TARGETS);
	__type(key, struct armor_outer_key);
	__array(values, struct armor_inner);
} armor_targets SEC(".maps");

/* per-CPU scratch request (too big for the 512-byte stack) */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct armor_req);
} armor_scratch SEC(".maps");

static __always_inline struct armor_req *armor_req_get(void)
{
	__u32 zero = 0;
	return bpf_map_lookup_elem(&armor_scratch, &zero);
}

#endif
