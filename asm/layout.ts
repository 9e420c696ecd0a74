// Layout of the device state region: one 64 KiB wasm page outside guest RAM whose address the
// TypeScript side hands to `init`. Everything the hot path knows about the device lives here (so a
// snapshot is a copy of this region); only the RAM window itself lives in wasm globals.
// Also the codes the exports return. Plain `export const` lines only: src/hotpath.ts, the one
// TypeScript file that knows this layout, imports it too.

export const STATE_SIZE = 0x10000;
export const MAX_QUEUES = 128; // queue ids 0..127; doorbell index = 2 * qid + (1 for CQ head)

// Header
export const ST_PAGE_SIZE = 0x000; // u32: CC.MPS page size in bytes
export const ST_DBBUF_ON = 0x004; // u32: 1 once Doorbell Buffer Config succeeded
export const ST_SHADOW_ADDR = 0x008; // u64: guest address of the shadow doorbell page
export const ST_EVENTIDX_ADDR = 0x010; // u64: guest address of the EventIdx page
export const ST_INT_MASKED = 0x018; // u32: INTMS bit 0
export const ST_COALESCE_THR = 0x01c; // u32: aggregation threshold (0's based count), 0 = off
export const ST_COALESCE_TIME = 0x020; // u32: aggregation time in 100 us units, 0 = off
export const ST_BAD_DB = 0x024; // u32: 1 + index of a doorbell a poll found holding an impossible value, 0 = none
export const ST_DIRTY_COUNT = 0x028; // u32: entries used in the dirty list
export const ST_SQ_LIMIT = 0x02c; // u32: highest SQ id ever created + 1 (bounds the scans)
export const ST_CQ_LIMIT = 0x030; // u32: highest CQ id ever created + 1
export const ST_RR_NEXT = 0x034; // u32: where round-robin arbitration resumes

// Counters, u64 each
export const ST_COUNTERS = 0x040;
export const CNT_MMIO_DB_WRITES = 0;
export const CNT_SHADOW_DB_READS = 1;
export const CNT_EVENTIDX_WRITES = 2;
export const CNT_SQES_FETCHED = 3;
export const CNT_CQES_POSTED = 4;
export const CNT_POLLS = 5;
export const CNT_EMPTY_POLLS = 6;
export const CNT_SGL_COMMANDS = 7; // data pointers mapped through an SGL
export const CNT_COUNT = 8;

export const ST_SQE = 0x0c0; // 64 bytes: the entry sqFetch copied out of guest RAM

// Dirty list: guest ranges [start, end) the hot path stored into since the last drain.
export const ST_DIRTY = 0x100;
export const DIRTY_MAX = 32; // entries of 8 bytes: u32 start, u32 end

// PRP and SGL walk output: entries of (u32 guest address, u32 length); their count is segmentCount().
export const ST_SEG_LIST = 0x208;
export const SEGS_MAX = 1024;
export const SEG_BIT_BUCKET = 0xffffffff; // the address of a Bit Bucket segment (read data dropped)

// Doorbell values written through MMIO, u32 per doorbell index (used while no shadow page is set).
export const ST_MMIO_DB = 0x2400;

// Submission queues: 32 bytes each
export const ST_SQ = 0x2800;
export const SQ_ENTRY = 32;
export const SQ_BASE = 0; // u64 guest address
export const SQ_SIZE = 8; // u32 entries; 0 = queue does not exist
export const SQ_HEAD = 12; // u32
export const SQ_CQID = 16; // u32

// Completion queues: 64 bytes each
export const ST_CQ = 0x3800;
export const CQ_ENTRY = 64;
export const CQ_BASE = 0; // u64 guest address
export const CQ_SIZE = 8; // u32 entries; 0 = queue does not exist
export const CQ_TAIL = 12; // u32
export const CQ_PHASE = 16; // u32: phase tag of the entry to be written at tail
export const CQ_IEN = 20; // u32: interrupts enabled
export const CQ_RESERVED = 24; // u32: slots promised to fetched commands not yet completed
export const CQ_UNSIGNALLED = 28; // u32: entries posted since the interrupt was last signalled
export const CQ_SIGNALLED = 32; // u32: 1 while an interrupt is owed to the host for this CQ
export const CQ_FIRST_POST = 36; // u32: caller's clock (100 us ticks) at the first unsignalled post
export const CQ_EVENTIDX = 40; // u32: CQ head EventIdx last written + 1 (0 = not written)
export const ST_END = 0x5800;

// dbWrite results
export const DB_SQ_TAIL = 1; // stored: an SQ tail doorbell
export const DB_CQ_HEAD = 2; // stored: a CQ head doorbell
export const DB_NO_QUEUE = -1; // the doorbell of a queue that does not exist
export const DB_BAD_VALUE = -2; // a value past the end of the queue

// sqFetch results: a fetched entry returns FETCH_OK | cqid (the caller needs its CQ anyway)
export const FETCH_OK = 0x10000;
export const FETCH_EMPTY = 0;
export const FETCH_CQ_FULL = -1;
export const FETCH_BAD_DOORBELL = -2;
export const FETCH_NO_QUEUE = -3;
// fetchNext: sqid | cqid << FETCH_NEXT_CQ_SHIFT of the entry fetched, or FETCH_NONE
export const FETCH_NEXT_CQ_SHIFT = 16;
export const FETCH_NONE = -1;

// prpMap results
export const PRP_OK = 0;
export const PRP_OUTSIDE_RAM = 1; // an entry or list page outside guest RAM: Data Transfer Error
export const PRP_BAD_OFFSET = 2; // an entry with an offset the spec forbids: Invalid PRP Offset
export const PRP_TOO_MANY_SEGMENTS = 3; // more than SEGS_MAX segments: Invalid Field

// sglMap results (besides PRP_OK, PRP_OUTSIDE_RAM for a descriptor or segment outside guest RAM)
export const SGL_BAD_TYPE = 4; // a descriptor type or sub type not offered here: SGL Descriptor Type Invalid
export const SGL_BAD_LENGTH = 5; // the SGL describes more or less than the transfer: Data SGL Length Invalid
export const SGL_TOO_MANY = 6; // a chain past SGL_DESCS_MAX descriptors or SEGS_MAX segments: Invalid Number of SGL Descriptors
export const SGL_GRANULARITY = 7; // a data block not dword aligned and sized: SGL Data Block Granularity Invalid
export const SGL_BAD_SEGMENT = 8; // a (Last) Segment descriptor out of place or of a bad length: Invalid SGL Segment Descriptor
export const SGL_DESCS_MAX = 4096; // descriptors one command may make the walk read (ends loops)
