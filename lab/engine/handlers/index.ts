/**
 * The resource types the lab engine performs, one file each, the way the real provider
 * would. Each handler lists the inputs it implements: any other input makes the run fail
 * loudly, so the lab can never silently differ from what the real providers would do.
 */
import { copyToRemote } from "./command-copy";
import { localCommand } from "./command-local";
import { remoteCommand } from "./command-remote";
import { dockerNetwork } from "./docker-network";
import { dockerProvider } from "./docker-provider";
import { dockerSecret } from "./docker-secret";
import { dockerService } from "./docker-service";
import { dockerServiceConfig } from "./docker-service-config";
import { randomPassword } from "./random-password";
import type { Handler, Invoke } from "./types";

export { dockerProviderTarget } from "./docker-provider";
export { generatePassword } from "./random-password";
export { type Handler, type HandlerContext, type Invoke, NotImplemented, type Performed, type Phase } from "./types";

export const HANDLERS: Record<string, Handler> = {
    "command:remote:Command": remoteCommand,
    "command:local:Command": localCommand,
    "command:remote:CopyToRemote": copyToRemote,
    "random:index/randomPassword:RandomPassword": randomPassword,
    "pulumi:providers:docker": dockerProvider,
    "docker:index/network:Network": dockerNetwork,
    "docker:index/secret:Secret": dockerSecret,
    "docker:index/service:Service": dockerService,
    "docker:index/serviceConfig:ServiceConfig": dockerServiceConfig,
};

/** Provider functions (invokes) the engine answers: none yet (the program calls none). */
export const INVOKES: Record<string, Invoke> = {};
