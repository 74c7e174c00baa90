import { SwarmProject, SwarmProjectProps } from './swarm-project';

/** @deprecated since 0.2, use SwarmProject */
export const SwarmStack = SwarmProject;
/** @deprecated since 0.2, use SwarmProject */
export type SwarmStack = SwarmProject;
/** @deprecated since 0.2, use SwarmProjectProps */
export type SwarmStackProps = SwarmProjectProps;
