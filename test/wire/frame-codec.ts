// The frame codec under test, named in this one line so that it is easy to repoint.
export * from '../../src/wire/frame.js';
