/**
 * One error taxonomy for the whole library.
 *
 * Host or API misuse throws a `GvtError` subclass with a stable `code`. Bad *guest* input never
 * throws into the emulator: it is counted and answered as hardware would, or contained (a failed
 * workload, a vGPU in failsafe). The guest-fault codes below are what those records carry.
 */

/** Stable codes. Never renumber or rename: tests and users match on them. */
export type GvtErrorCode =
  | 'E_CONFIG'          // bad host configuration or option
  | 'E_RANGE'           // an argument outside its documented range
  | 'E_NO_RESOURCE'     // a resource (graphics memory, fences, ids, host pages) ran out
  | 'E_STATE'           // an operation not allowed in the object's current state
  | 'E_TABLE'           // a data table failed its self-check (duplicate, overlap, zero length)
  | 'E_SCENARIO'        // a scenario file failed validation
  | 'E_INTERNAL';       // an internal invariant broke

/** Base class of every error the library throws. */
export class GvtError extends Error {
  readonly code: GvtErrorCode;
  constructor(code: GvtErrorCode, message: string) {
    super(message);
    this.code = code;
    this.name = new.target.name;
  }
}

/** Bad host configuration or a bad option value; the message names the field. */
export class ConfigError extends GvtError {
  readonly field: string;
  constructor(field: string, message: string) {
    super('E_CONFIG', `${field}: ${message}`);
    this.field = field;
  }
}

/** An argument outside its range (an offset beyond a BAR, a size not 1/2/4/8). */
export class RangeArgError extends GvtError {
  constructor(message: string) {
    super('E_RANGE', message);
  }
}

/** A resource ran out. `resource` names it; `shortBy` says by how much (in its unit). */
export class NoResourceError extends GvtError {
  readonly resource: string;
  readonly shortBy: number;
  constructor(resource: string, shortBy: number, message: string) {
    super('E_NO_RESOURCE', message);
    this.resource = resource;
    this.shortBy = shortBy;
  }
}

/** An operation not allowed in the current state (a destroyed vGPU, a busy engine). */
export class StateError extends GvtError {
  constructor(message: string) {
    super('E_STATE', message);
  }
}

/** A data table failed its self-check when built. */
export class TableError extends GvtError {
  constructor(message: string) {
    super('E_TABLE', message);
  }
}

/** An internal invariant broke: a bug in gvtkit, never the guest's fault. */
export class InternalError extends GvtError {
  constructor(message: string) {
    super('E_INTERNAL', message);
  }
}

/**
 * Codes of guest faults: recorded on the vGPU, never thrown. They mirror GVT-g's errno classes
 * (EBADRQC unknown command, EFAULT bad address, EPERM privileged access).
 */
export type GuestFaultCode =
  | 'BAD_COMMAND'       // unknown or malformed command (GVT-g: EBADRQC)
  | 'BAD_ADDRESS'       // a graphics address outside the vGPU's memory (EFAULT)
  | 'PRIVILEGED'        // a privileged command or register from a guest (EPERM)
  | 'BAD_VALUE'         // a register value the auditor cannot make safe (EINVAL)
  | 'LIMIT'             // nesting, chain or length budget exceeded
  | 'BAD_DESCRIPTOR'    // a bad execlist context descriptor
  | 'BAD_PTE'           // a PTE naming a frame the guest does not own
  | 'HANG';             // a workload that exceeded its watchdog
