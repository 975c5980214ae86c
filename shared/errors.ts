/**
 * Every error the library raises on purpose carries a stable `code`, so the CLI can print
 * it plainly and the edge can map it to an HTTP status without parsing messages.
 */
export class DeeprnnError extends Error {
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message);
    this.name = 'DeeprnnError';
  }
}

/** A caller passed an option that is out of range or of the wrong type. */
export class OptionError extends DeeprnnError {
  constructor(message: string) {
    super('invalid_option', message);
    this.name = 'OptionError';
  }
}

/** A model artifact is missing, corrupt, or disagrees with itself. Never served. */
export class ArtifactError extends DeeprnnError {
  constructor(code: string, message: string) {
    super(code, message);
    this.name = 'ArtifactError';
  }
}
