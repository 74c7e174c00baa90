export * from './kubernetes';
export * from './shipshape-stack';
