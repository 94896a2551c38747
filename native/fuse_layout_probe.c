/*
 * Prints the sizes, field offsets, bitfield positions and constants of the libfuse 3.14 /
 * glibc structs that src/TvixLowFs.Fuse/Native mirrors, as seen by the installed headers.
 * tests/TvixLowFs.Tests/Fuse/LayoutTests parses the output. Line format:
 *   size  <struct> <bytes>
 *   field <struct>.<field> <offset> <size>
 *   bit   <struct>.<field> <bit index from the start of the struct>
 *   const <NAME> <value>
 */
#define FUSE_USE_VERSION 314
#include <fuse_lowlevel.h>
#include <linux/fuse.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/uio.h>
#include <time.h>

#define SIZE(type) printf("size %s %zu\n", #type, sizeof(struct type))
#define FIELD(type, field) \
	printf("field %s.%s %zu %zu\n", #type, #field, offsetof(struct type, field), \
	       sizeof(((struct type *)0)->field))
#define CONST(name) printf("const %s %lld\n", #name, (long long)(name))

/* A bitfield has no offsetof: set it in a zeroed struct and find the one bit that changed. */
#define BIT(type, field)                                                     \
	do {                                                                 \
		struct type probe;                                           \
		unsigned char raw[sizeof probe];                             \
		memset(&probe, 0, sizeof probe);                             \
		probe.field = 1;                                             \
		memcpy(raw, &probe, sizeof probe);                           \
		for (size_t i = 0; i < sizeof probe * 8; i++)                \
			if (raw[i / 8] & (1u << (i % 8)))                    \
				printf("bit %s.%s %zu\n", #type, #field, i); \
	} while (0)

int main(void)
{
	SIZE(timespec);
	FIELD(timespec, tv_sec);
	FIELD(timespec, tv_nsec);

	SIZE(stat);
	FIELD(stat, st_dev);
	FIELD(stat, st_ino);
	FIELD(stat, st_nlink);
	FIELD(stat, st_mode);
	FIELD(stat, st_uid);
	FIELD(stat, st_gid);
	FIELD(stat, st_rdev);
	FIELD(stat, st_size);
	FIELD(stat, st_blksize);
	FIELD(stat, st_blocks);
	FIELD(stat, st_atim);
	FIELD(stat, st_mtim);
	FIELD(stat, st_ctim);

	SIZE(statvfs);
	FIELD(statvfs, f_bsize);
	FIELD(statvfs, f_frsize);
	FIELD(statvfs, f_blocks);
	FIELD(statvfs, f_bfree);
	FIELD(statvfs, f_bavail);
	FIELD(statvfs, f_files);
	FIELD(statvfs, f_ffree);
	FIELD(statvfs, f_favail);
	FIELD(statvfs, f_fsid);
	FIELD(statvfs, f_flag);
	FIELD(statvfs, f_namemax);

	SIZE(fuse_entry_param);
	FIELD(fuse_entry_param, ino);
	FIELD(fuse_entry_param, generation);
	FIELD(fuse_entry_param, attr);
	FIELD(fuse_entry_param, attr_timeout);
	FIELD(fuse_entry_param, entry_timeout);

	SIZE(fuse_file_info);
	FIELD(fuse_file_info, flags);
	FIELD(fuse_file_info, fh);
	FIELD(fuse_file_info, lock_owner);
	FIELD(fuse_file_info, poll_events);
	BIT(fuse_file_info, writepage);
	BIT(fuse_file_info, direct_io);
	BIT(fuse_file_info, keep_cache);
	BIT(fuse_file_info, flush);
	BIT(fuse_file_info, nonseekable);
	BIT(fuse_file_info, flock_release);
	BIT(fuse_file_info, cache_readdir);
	BIT(fuse_file_info, noflush);

	SIZE(fuse_conn_info);
	FIELD(fuse_conn_info, proto_major);
	FIELD(fuse_conn_info, proto_minor);
	FIELD(fuse_conn_info, max_write);
	FIELD(fuse_conn_info, max_read);
	FIELD(fuse_conn_info, max_readahead);
	FIELD(fuse_conn_info, capable);
	FIELD(fuse_conn_info, want);
	FIELD(fuse_conn_info, max_background);
	FIELD(fuse_conn_info, congestion_threshold);
	FIELD(fuse_conn_info, time_gran);
	FIELD(fuse_conn_info, reserved);

	SIZE(fuse_buf);
	FIELD(fuse_buf, size);
	FIELD(fuse_buf, flags);
	FIELD(fuse_buf, mem);
	FIELD(fuse_buf, fd);
	FIELD(fuse_buf, pos);

	SIZE(fuse_bufvec);
	FIELD(fuse_bufvec, count);
	FIELD(fuse_bufvec, idx);
	FIELD(fuse_bufvec, off);
	FIELD(fuse_bufvec, buf);

	SIZE(fuse_ctx);
	FIELD(fuse_ctx, uid);
	FIELD(fuse_ctx, gid);
	FIELD(fuse_ctx, pid);
	FIELD(fuse_ctx, umask);

	SIZE(fuse_forget_data);
	FIELD(fuse_forget_data, ino);
	FIELD(fuse_forget_data, nlookup);

	SIZE(fuse_args);
	FIELD(fuse_args, argc);
	FIELD(fuse_args, argv);
	FIELD(fuse_args, allocated);

	SIZE(iovec);
	FIELD(iovec, iov_base);
	FIELD(iovec, iov_len);

	SIZE(fuse_custom_io);
	FIELD(fuse_custom_io, writev);
	FIELD(fuse_custom_io, read);
	FIELD(fuse_custom_io, splice_receive);
	FIELD(fuse_custom_io, splice_send);

	/* FUSE wire structs (kernel uapi): what the passthrough device I/O reads and writes. */
	SIZE(fuse_in_header);
	FIELD(fuse_in_header, len);
	FIELD(fuse_in_header, opcode);
	FIELD(fuse_in_header, unique);
	SIZE(fuse_out_header);
	FIELD(fuse_out_header, len);
	FIELD(fuse_out_header, error);
	FIELD(fuse_out_header, unique);
	FIELD(fuse_init_in, flags);
	FIELD(fuse_init_in, flags2);
	SIZE(fuse_init_out);
	FIELD(fuse_init_out, flags);
	FIELD(fuse_init_out, flags2);
	FIELD(fuse_init_out, unused[0]); /* max_stack_depth since 6.9 */
	SIZE(fuse_open_out);
	FIELD(fuse_open_out, fh);
	FIELD(fuse_open_out, open_flags);
	FIELD(fuse_open_out, padding); /* backing_id since 6.9 */

	SIZE(fuse_lowlevel_ops);
	FIELD(fuse_lowlevel_ops, init);
	FIELD(fuse_lowlevel_ops, destroy);
	FIELD(fuse_lowlevel_ops, lookup);
	FIELD(fuse_lowlevel_ops, forget);
	FIELD(fuse_lowlevel_ops, getattr);
	FIELD(fuse_lowlevel_ops, setattr);
	FIELD(fuse_lowlevel_ops, readlink);
	FIELD(fuse_lowlevel_ops, mknod);
	FIELD(fuse_lowlevel_ops, mkdir);
	FIELD(fuse_lowlevel_ops, unlink);
	FIELD(fuse_lowlevel_ops, rmdir);
	FIELD(fuse_lowlevel_ops, symlink);
	FIELD(fuse_lowlevel_ops, rename);
	FIELD(fuse_lowlevel_ops, link);
	FIELD(fuse_lowlevel_ops, open);
	FIELD(fuse_lowlevel_ops, read);
	FIELD(fuse_lowlevel_ops, write);
	FIELD(fuse_lowlevel_ops, flush);
	FIELD(fuse_lowlevel_ops, release);
	FIELD(fuse_lowlevel_ops, fsync);
	FIELD(fuse_lowlevel_ops, opendir);
	FIELD(fuse_lowlevel_ops, readdir);
	FIELD(fuse_lowlevel_ops, releasedir);
	FIELD(fuse_lowlevel_ops, fsyncdir);
	FIELD(fuse_lowlevel_ops, statfs);
	FIELD(fuse_lowlevel_ops, setxattr);
	FIELD(fuse_lowlevel_ops, getxattr);
	FIELD(fuse_lowlevel_ops, listxattr);
	FIELD(fuse_lowlevel_ops, removexattr);
	FIELD(fuse_lowlevel_ops, access);
	FIELD(fuse_lowlevel_ops, create);
	FIELD(fuse_lowlevel_ops, getlk);
	FIELD(fuse_lowlevel_ops, setlk);
	FIELD(fuse_lowlevel_ops, bmap);
	FIELD(fuse_lowlevel_ops, ioctl);
	FIELD(fuse_lowlevel_ops, poll);
	FIELD(fuse_lowlevel_ops, write_buf);
	FIELD(fuse_lowlevel_ops, retrieve_reply);
	FIELD(fuse_lowlevel_ops, forget_multi);
	FIELD(fuse_lowlevel_ops, flock);
	FIELD(fuse_lowlevel_ops, fallocate);
	FIELD(fuse_lowlevel_ops, readdirplus);
	FIELD(fuse_lowlevel_ops, copy_file_range);
	FIELD(fuse_lowlevel_ops, lseek);

	CONST(FUSE_MAJOR_VERSION);
	CONST(FUSE_MINOR_VERSION);
	CONST(FUSE_CAP_ASYNC_READ);
	CONST(FUSE_CAP_POSIX_LOCKS);
	CONST(FUSE_CAP_ATOMIC_O_TRUNC);
	CONST(FUSE_CAP_EXPORT_SUPPORT);
	CONST(FUSE_CAP_DONT_MASK);
	CONST(FUSE_CAP_SPLICE_WRITE);
	CONST(FUSE_CAP_SPLICE_MOVE);
	CONST(FUSE_CAP_SPLICE_READ);
	CONST(FUSE_CAP_FLOCK_LOCKS);
	CONST(FUSE_CAP_IOCTL_DIR);
	CONST(FUSE_CAP_AUTO_INVAL_DATA);
	CONST(FUSE_CAP_READDIRPLUS);
	CONST(FUSE_CAP_READDIRPLUS_AUTO);
	CONST(FUSE_CAP_ASYNC_DIO);
	CONST(FUSE_CAP_WRITEBACK_CACHE);
	CONST(FUSE_CAP_NO_OPEN_SUPPORT);
	CONST(FUSE_CAP_PARALLEL_DIROPS);
	CONST(FUSE_CAP_POSIX_ACL);
	CONST(FUSE_CAP_HANDLE_KILLPRIV);
	CONST(FUSE_CAP_CACHE_SYMLINKS);
	CONST(FUSE_CAP_NO_OPENDIR_SUPPORT);
	CONST(FUSE_CAP_EXPLICIT_INVAL_DATA);
	CONST(FUSE_CAP_EXPIRE_ONLY);
	CONST(FUSE_BUF_IS_FD);
	CONST(FUSE_BUF_FD_SEEK);
	CONST(FUSE_BUF_FD_RETRY);
	CONST(FUSE_BUF_NO_SPLICE);
	CONST(FUSE_BUF_FORCE_SPLICE);
	CONST(FUSE_BUF_SPLICE_MOVE);
	CONST(FUSE_BUF_SPLICE_NONBLOCK);
	CONST(FUSE_INIT);
	CONST(FUSE_INIT_EXT);
	CONST(FOPEN_NOFLUSH);
	return 0;
}
