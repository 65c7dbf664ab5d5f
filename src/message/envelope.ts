/**
 * The envelope of one message: who sent it, to whom, and who handed it to us. Defined here, below
 * both the spool (which stores it, spool/types.ts) and the transports (which deliver with it), so
 * that neither imports the other for it. A plain record: the checks that make its addresses safe
 * are address.ts's, applied before a message is queued.
 */

export type SubmitVia = 'sendmail' | 'send' | 'smtp' | 'drop' | 'bounce';

export interface Envelope {
  /** Envelope sender, fully qualified; "" is the null sender <>. */
  sender: string;
  /** Fully qualified recipients, before aliases (aliases are applied at delivery). */
  recipients: string[];
  /** ms since the epoch. */
  submittedAt: number;
  /** Who handed it to us: uid from the kernel (file owner or process), never from content. */
  uid: number;
  user: string;
  via: SubmitVia;
  /** DSN parameters from -N/-R/-V or ESMTP. */
  notify?: string;
  ret?: 'full' | 'hdrs';
  envid?: string;
  /** True for bounces we generated: never bounce a bounce. */
  isBounce?: boolean;
}
