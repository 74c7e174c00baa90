export * from './kubernetes';
export * from './shipshape-stack';
export * from './docker';
