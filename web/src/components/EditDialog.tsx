// The edit dialog of a resource: a form in a modal that creates (POST to the collection) or
// replaces (PUT to collection/id) it, shows the API's errors by field, and deletes it.
import { type ReactNode, useState } from 'react';
import { confirmDelete, saveResource } from '../api';
import { FormButtons, FormError, Modal } from './index';

export interface ResourceForm {
  /** The API's errors by field (`_form`: not about one field); see `errorFor`. */
  errors: Record<string, string>;
  setErrors: (errors: Record<string, string>) => void;
  busy: boolean;
  /** Sends `body`; on success calls `onSaved`, else keeps the form and shows the errors. */
  save: (body: unknown) => Promise<void>;
  /** Asks `question`, then deletes the resource. */
  remove: (question: string) => Promise<void>;
}

/** `byCode` maps error codes that name no field to the field they are about. */
export function useResourceForm(opts: {
  collection: string;
  id: string | undefined;
  byCode?: Record<string, string>;
  onSaved: () => void;
}): ResourceForm {
  const [errors, setErrors] = useState<Record<string, string>>({});
  const [busy, setBusy] = useState(false);
  return {
    errors,
    setErrors,
    busy,
    save: async (body) => {
      setBusy(true);
      const failed = await saveResource(opts.collection, opts.id, body, opts.byCode);
      setBusy(false);
      if (failed) setErrors(failed);
      else opts.onSaved();
    },
    remove: async (question) => {
      if (!opts.id) return;
      const r = await confirmDelete(question, `${opts.collection}/${opts.id}`);
      if (r.errors) setErrors(r.errors);
      else if (r.deleted) opts.onSaved();
    },
  };
}

export function EditDialog(props: {
  title: string;
  form: ResourceForm;
  onSubmit: () => void;
  onClose: () => void;
  /** The form-wide error; by default `_form`'s. */
  formError?: string | undefined;
  save: string;
  /** With a Cancel button. */
  cancel?: boolean;
  /** Set for an existing resource: the Delete button asks this first. */
  deleteQuestion?: string | undefined;
  deleteLabel?: string;
  /** Buttons before Save. */
  extra?: ReactNode;
  children: ReactNode;
}) {
  const { form } = props;
  const question = props.deleteQuestion;
  return (
    <Modal title={props.title} onClose={props.onClose}>
      <form
        onSubmit={(e) => {
          e.preventDefault();
          props.onSubmit();
        }}
      >
        <FormError error={props.formError ?? form.errors._form} />
        {props.children}
        <FormButtons
          save={props.save}
          busy={form.busy}
          onCancel={props.cancel ? props.onClose : undefined}
          deleteLabel={props.deleteLabel}
          onDelete={question === undefined ? undefined : () => void form.remove(question)}
          extra={props.extra}
        />
      </form>
    </Modal>
  );
}
