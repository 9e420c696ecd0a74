// Command opcodes (NVMe base spec "Admin Command Set", NVM command set spec "I/O Commands").

// Admin
export const ADMIN_DELETE_SQ = 0x00;
export const ADMIN_CREATE_SQ = 0x01;
export const ADMIN_GET_LOG_PAGE = 0x02;
export const ADMIN_DELETE_CQ = 0x04;
export const ADMIN_CREATE_CQ = 0x05;
export const ADMIN_IDENTIFY = 0x06;
export const ADMIN_ABORT = 0x08;
export const ADMIN_SET_FEATURES = 0x09;
export const ADMIN_GET_FEATURES = 0x0a;
export const ADMIN_ASYNC_EVENT_REQUEST = 0x0c;
export const ADMIN_NS_MANAGEMENT = 0x0d;
export const ADMIN_FW_COMMIT = 0x10;
export const ADMIN_FW_DOWNLOAD = 0x11;
export const ADMIN_NS_ATTACHMENT = 0x15;
export const ADMIN_KEEP_ALIVE = 0x18;
export const ADMIN_DOORBELL_BUFFER_CONFIG = 0x7c;
export const ADMIN_FORMAT_NVM = 0x80;
export const ADMIN_SANITIZE = 0x84;

// NVM I/O
export const IO_FLUSH = 0x00;
export const IO_WRITE = 0x01;
export const IO_READ = 0x02;
export const IO_WRITE_UNCORRECTABLE = 0x04;
export const IO_COMPARE = 0x05;
export const IO_WRITE_ZEROES = 0x08;
export const IO_DATASET_MANAGEMENT = 0x09;
export const IO_VERIFY = 0x0c;
export const IO_COPY = 0x19;

// Data transfer direction: opcode bits 1:0 (01b host to controller, 10b controller to host)
export const XFER_NONE = 0;
export const XFER_TO_DEVICE = 1;
export const XFER_FROM_DEVICE = 2;
export const XFER_BIDIRECTIONAL = 3;
