// `typed-array-utils` ships its TypeScript source, which names the DOM's `BufferSource`; Node
// projects do not load the DOM library, so the type is declared here (what the DOM declares).
type BufferSource = ArrayBufferView | ArrayBuffer;
